// A whole QUIC handshake by Culvert's client, over a real UDP socket, blocking: ngtcp2 for the
// transport, ClientTls (client_tls.h) for TLS, Culvert's packet protection underneath. For the lab
// (`culvert lab quic-handshake`) and the tests that hold it against a QUIC server we did not
// write; the tunnel transport will run the same pieces on the event loop. CULVERT_QUIC_DEBUG=1
// prints ngtcp2's own log (packets and frames, no addresses) to stderr.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/result.h"
#include "quic/client_tls.h"

namespace culvert::quic {

struct HandshakeReport {
  std::string alpn;
  std::uint16_t cipher_suite = 0;
  std::uint16_t group = 0;
  std::size_t datagrams_sent = 0;
  std::size_t datagrams_received = 0;
  std::chrono::milliseconds elapsed{0};
  Bytes peer_transport_parameters;
};

// The first datagrams such a client sends, without sending them: ngtcp2's Initials with Culvert's
// Chromium QUIC ClientHello. What a censor reads without any key; the lab compares it with
// Chromium's captured first flight (`culvert lab quic-flight`).
Result<std::vector<Bytes>> client_first_flight(const std::string& server_name);

// `host` is a numeric IPv4 or IPv6 address. Errc::timed_out when no handshake completed in time,
// Errc::tls_failed (with the alert in the message's log) when TLS refused the server.
Result<HandshakeReport> run_client_handshake(const std::string& host, std::uint16_t port, ClientTlsConfig config,
                                             std::chrono::milliseconds timeout);

}  // namespace culvert::quic
