// What both ends' ngtcp2 glue share: the clock ngtcp2 runs on, its names for the encryption
// levels, handing one TLS step's events to a connection, new connection ids, and the debug log.
#pragma once

#include <ngtcp2/ngtcp2.h>
#include <sys/socket.h>

#include <string>

#include "core/result.h"
#include "quic/tls_events.h"

namespace culvert::quic {

ngtcp2_tstamp ngtcp2_now();
ngtcp2_crypto_level to_ngtcp2(Level level);
Level from_ngtcp2(ngtcp2_crypto_level level);

// Acts on what one TLS step produced: keys first (the peer's transport parameters, once known,
// with them), then the messages, then completion. 0 or an NGTCP2_ERR_* code for the callback to
// return. `peer_parameters_set` remembers that the parameters were handed over.
int apply_tls_events(ngtcp2_conn* conn, TlsEvents& events, const Bytes& peer_parameters, bool& peer_parameters_set);

// ngtcp2's get_new_connection_id callback: random ids and stateless reset tokens.
int new_connection_id(ngtcp2_conn* conn, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length, void* user_data);

// ngtcp2's settings for a connection starting now that sends datagrams of up to `max_datagram`
// bytes, with ngtcp2's log on stderr when CULVERT_QUIC_DEBUG is set.
ngtcp2_settings connection_settings(std::size_t max_datagram);

// ngtcp2's log_printf, to stderr; set when CULVERT_QUIC_DEBUG is in the environment.
void debug_log(void* user_data, const char* format, ...);
bool quic_debug_enabled();

// A UDP socket's descriptor, closed with it.
struct UdpSocket {
  int fd = -1;
  UdpSocket() = default;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();
};

// A numeric IPv4 or IPv6 address and a port as a socket address; Errc::bad_config otherwise.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};
Result<SocketAddress> socket_address(const std::string& host, std::uint16_t port);
std::uint16_t port_of(const sockaddr_storage& address);

ngtcp2_path path_of(sockaddr_storage& local, socklen_t local_length, sockaddr_storage& remote, socklen_t remote_length);

}  // namespace culvert::quic
