// QUIC handshakes answered by Culvert's server side, over a real UDP socket, blocking and one
// connection at a time: ngtcp2 for the transport, ServerTls (server_tls.h) for TLS, Culvert's
// packet protection underneath. For the lab (`culvert lab quic-serve`) and the tests that hold it
// against QUIC clients we did not write; the tunnel transport will run the same pieces on the
// event loop. After a handshake the connection either answers HTTP/3 requests with the cover site
// (`http3_cover`, h3_cover.h) until the client closes or has been quiet for `linger`, or is closed
// with H3_NO_ERROR once `linger` has passed. CULVERT_QUIC_DEBUG=1 prints ngtcp2's log to stderr.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "core/result.h"
#include "quic/server_tls.h"

namespace culvert::quic {

struct ServedHandshake {
  bool completed = false;
  std::uint8_t alert = 0;  // the TLS alert it was refused with, if any
  std::string alpn;
  std::string server_name;
  std::uint16_t cipher_suite = 0;
  std::uint16_t group = 0;
  std::size_t datagrams_sent = 0;
  std::size_t datagrams_received = 0;
  std::chrono::milliseconds elapsed{0};
  Bytes peer_transport_parameters;
  std::size_t http3_requests = 0;  // answered by the cover
};

struct ServeOptions {
  std::string host = "127.0.0.1";            // numeric IPv4 or IPv6
  std::uint16_t port = 0;                    // 0: any free port, told through `on_listening`
  int connections = 1;                       // how many handshakes to answer before returning
  std::chrono::milliseconds timeout{10000};  // for the whole run
  std::chrono::milliseconds linger{300};     // after the handshake (or the last datagram), before the close
  bool http3_cover = false;
  std::function<void(std::uint16_t port)> on_listening;
  std::function<void(const ServedHandshake&)> on_connection;
};

// Errc::timed_out when fewer than `connections` handshakes were answered in time.
Result<void> serve_handshakes(const ServerTlsConfig& tls, const ServeOptions& options);

}  // namespace culvert::quic
