// Culvert's own error codes. Hostile input and network failures are ordinary values of this enum,
// never exceptions (see docs/architecture.md, "Errors").
#pragma once

#include <system_error>

namespace culvert {

enum class Errc {
  ok = 0,
  truncated,            // need more bytes than were given
  malformed,            // bytes that no valid peer sends
  unsupported,          // valid but not implemented (e.g. SOCKS5 BIND)
  too_large,            // over a protocol or configured bound
  auth_failed,          // tunnel preamble did not match a valid user
  protocol_violation,   // a mux peer broke the framing rules
  window_exceeded,      // a mux peer sent beyond its flow-control window
  stream_reset,         // the peer reset a mux stream
  tunnel_closed,        // the tunnel carrying a stream went away
  destination_refused,  // SSRF guard refused a destination
  dial_failed,          // every address of a destination failed
  timed_out,
  tls_failed,             // TLS handshake or record failure
  pin_mismatch,           // server certificate does not match the pinned SPKI hash
  untrusted_certificate,  // the chain or name check failed (links without a pin)
  bad_link,               // a share link that cannot be parsed
  bad_config,
  store_failed,
};

const std::error_category& culvert_category();

inline std::error_code make_error_code(Errc e) { return {static_cast<int>(e), culvert_category()}; }

}  // namespace culvert

template <>
struct std::is_error_code_enum<culvert::Errc> : std::true_type {};
