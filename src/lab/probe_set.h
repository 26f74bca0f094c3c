// The probe catalogue: what a censor sends to a suspected proxy, from the measurement literature,
// plus what an auditor needs to tell a proxy from the web server it imitates.
//   before TLS: silence, half-close, random bytes of every length from 1 to 64 and of random lengths
//     up to 20,000 (fresh bytes on every call), each first-byte class (TLS-like, SSLv2-like, HTTP-
//     like), plain HTTP requests, protocol openers (Frolov et al. NDSS 2020), malformed and
//     fragmented TLS records, ClientHellos of Chromium, Firefox and curl, TLS 1.2-only, SSLv2;
//   inside TLS (OpenSSL's client): HTTP/1.1 and HTTP/2 requests, error cases, random bytes, forged
//     authentication, and the tickets after the handshake (Aparecium, 2025);
//   replays of a recorded first payload, identical, delayed and with changed bytes (Alice et al.
//     IMC 2020).
#pragma once

#include <vector>

#include "lab/prober.h"

namespace culvert::lab {

std::vector<Probe> standard_probes(const ProbeOptions& options);

// The bytes of an HTTP/2 request as Chromium opens a connection: preface, SETTINGS,
// WINDOW_UPDATE and a HEADERS frame for GET `path` at `authority` (HPACK without Huffman).
Bytes h2_request(const std::string& authority, const std::string& path);

}  // namespace culvert::lab
