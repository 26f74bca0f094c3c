// Comparing two servers' reactions to the same probe as a censor would: the same close (FIN, RST,
// silence) at the same time, the same bytes back — after what legitimately differs between two
// answers of one server is set aside (the Date header, the random values and signature lengths of
// a TLS handshake, HPACK's choice of encoding) — and for TLS probes the same handshake (version,
// cipher, ALPN, group, ServerHello extensions, message sequence, certificate chain sizes) and the
// same session tickets (count, lifetime hint, size).
// Pure functions; no I/O.
#pragma once

#include <string>
#include <vector>

#include "lab/prober.h"

namespace culvert::lab {

// One line: "FIN after 3 ms, 247 B".
std::string describe(const Reaction& r);

// The response as a list of comparable items: TLS records ("rec:16:len", ServerHello shapes,
// alerts), an HTTP/1.x message with its Date blanked, HTTP/2 frames with decoded headers, or the
// raw bytes in hex. `h2` says the bytes are an HTTP/2 connection's (ALPN h2).
std::vector<std::string> normalize_response(ByteSpan response, bool h2);

// Whether a prober could tell the two reactions apart; `why` says how when it could. Closes at most
// `jitter` (or a quarter of the longer wait) apart count as the same: a prober's timing buckets are
// no finer, and a loaded or sanitizer-slowed machine adds delays of its own.
bool same_reaction(const Probe& probe, const Reaction& a, const Reaction& b, std::string& why,
                   std::chrono::milliseconds jitter = std::chrono::milliseconds(300));

}  // namespace culvert::lab
