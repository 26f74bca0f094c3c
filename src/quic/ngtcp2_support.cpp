#include "quic/ngtcp2_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "crypto/crypto.h"
#include "quic/ngtcp2_crypto.h"

namespace culvert::quic {

ngtcp2_tstamp ngtcp2_now() {
  return static_cast<ngtcp2_tstamp>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

ngtcp2_crypto_level to_ngtcp2(Level level) {
  switch (level) {
    case Level::initial:
      return NGTCP2_CRYPTO_LEVEL_INITIAL;
    case Level::handshake:
      return NGTCP2_CRYPTO_LEVEL_HANDSHAKE;
    case Level::application:
      break;
  }
  return NGTCP2_CRYPTO_LEVEL_APPLICATION;
}

Level from_ngtcp2(ngtcp2_crypto_level level) {
  return level == NGTCP2_CRYPTO_LEVEL_INITIAL     ? Level::initial
         : level == NGTCP2_CRYPTO_LEVEL_HANDSHAKE ? Level::handshake
                                                  : Level::application;
}

int apply_tls_events(ngtcp2_conn* conn, TlsEvents& events, const Bytes& peer_parameters, bool& peer_parameters_set) {
  // A server has not settled the version while it reads the first ClientHello: the client's it is.
  std::uint32_t version = ngtcp2_conn_get_negotiated_version(conn);
  if (version == 0) version = ngtcp2_conn_get_client_chosen_version(conn);
  if (events.handshake_keys) {
    auto& k = *events.handshake_keys;
    if (install_handshake_keys(conn, *k.suite, version, k.rx, k.tx) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  if (!peer_parameters_set && !peer_parameters.empty()) {
    int rv = ngtcp2_conn_decode_remote_transport_params(conn, peer_parameters.data(), peer_parameters.size());
    if (rv != 0) return rv;  // a transport parameter error closes the connection as one
    peer_parameters_set = true;
  }
  if (events.application_keys) {
    auto& k = *events.application_keys;
    if (install_application_keys(conn, *k.suite, version, k.rx, k.tx) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  for (auto& [level, bytes] : events.send)
    if (ngtcp2_conn_submit_crypto_data(conn, to_ngtcp2(level), bytes.data(), bytes.size()) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
  if (events.complete) ngtcp2_conn_handshake_completed(conn);
  return 0;
}

int new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length, void*) {
  Bytes id = crypto::random_bytes(length);
  ngtcp2_cid_init(cid, id.data(), id.size());
  crypto::random_bytes(std::span<std::uint8_t>(token, NGTCP2_STATELESS_RESET_TOKENLEN));
  return 0;
}

void debug_log(void*, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vfprintf(stderr, format, ap);
  va_end(ap);
  fputc('\n', stderr);
}

bool quic_debug_enabled() { return std::getenv("CULVERT_QUIC_DEBUG") != nullptr; }

ngtcp2_settings connection_settings(std::size_t max_datagram) {
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = ngtcp2_now();
  if (quic_debug_enabled()) settings.log_printf = debug_log;
  settings.max_tx_udp_payload_size = max_datagram;
  return settings;
}

UdpSocket::~UdpSocket() {
  if (fd >= 0) ::close(fd);
}

Result<SocketAddress> socket_address(const std::string& host, std::uint16_t port) {
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.length = sizeof(sockaddr_in6);
  } else {
    return fail(Errc::bad_config);
  }
  return a;
}

std::uint16_t port_of(const sockaddr_storage& address) {
  return ntohs(address.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(address).sin_port
                                            : reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
}

ngtcp2_path path_of(sockaddr_storage& local, socklen_t local_length, sockaddr_storage& remote,
                    socklen_t remote_length) {
  return {{reinterpret_cast<ngtcp2_sockaddr*>(&local), local_length},
          {reinterpret_cast<ngtcp2_sockaddr*>(&remote), remote_length},
          nullptr};
}

}  // namespace culvert::quic
