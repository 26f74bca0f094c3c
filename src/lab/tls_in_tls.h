// TLS-in-TLS: the size/direction pattern of a TLS handshake carried inside an outer TLS session.
// Xue et al., "Fingerprinting Obfuscated Proxy Traffic with Encapsulated TLS Handshakes", USENIX
// Security 2024. Their classifier is trained and not public; this is a hand-written stand-in built
// on their observations, with its thresholds documented in docs/censor-model.md:
//   1. pre-filter (theirs): at least 2.5 round trips within the first 15 TLS records;
//   2. after the outer handshake (and the client's encrypted Finished, a record of <= 80 bytes),
//      the first client burst of application data has the size of a
//      ClientHello (250-3000 bytes of plaintext), the next server burst that of a server flight
//      with a certificate (>= 600 bytes), and the client answers again (its Finished).
#pragma once

#include "lab/flow.h"
#include "lab/verdict.h"

namespace culvert::lab {

struct TlsRecord {
  Direction direction;
  std::uint8_t type;
  std::size_t length;
  std::size_t segment;  // index of the flow segment in which the record completed
};

// Splits both directions into TLS records (stops a direction at the first byte that is not one).
std::vector<TlsRecord> tls_records(const Flow& flow);

Verdict tls_in_tls_verdict(const Flow& flow);

}  // namespace culvert::lab
