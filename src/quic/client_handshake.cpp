#include "quic/client_handshake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "crypto/crypto.h"
#include "quic/ngtcp2_crypto.h"
#include "quic/transport_parameters.h"

namespace culvert::quic {
namespace {

constexpr std::size_t kDestinationIdLength = 8;
constexpr std::size_t kDatagramSize = 1250;
constexpr std::size_t kReceiveBuffer = 65536;

ngtcp2_tstamp now() {
  return static_cast<ngtcp2_tstamp>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

struct Connection {
  ClientTls tls;
  Bytes destination_id;
  ngtcp2_conn* conn = nullptr;
  bool remote_parameters_set = false;
  bool failed = false;

  explicit Connection(ClientTlsConfig config) : tls(std::move(config)) {}
  ~Connection() {
    if (conn) ngtcp2_conn_del(conn);
  }
};

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

// Acts on what one TLS step produced: keys first, then the messages, then completion.
int apply(Connection& c, TlsEvents& events) {
  std::uint32_t version = ngtcp2_conn_get_negotiated_version(c.conn);
  if (events.handshake_keys) {
    auto& k = *events.handshake_keys;
    if (install_handshake_keys(c.conn, *k.suite, version, k.rx, k.tx) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  if (!c.remote_parameters_set && !c.tls.peer_transport_parameters().empty()) {
    const Bytes& params = c.tls.peer_transport_parameters();
    int rv = ngtcp2_conn_decode_remote_transport_params(c.conn, params.data(), params.size());
    if (rv != 0) return rv;  // a transport parameter error closes the connection as one
    c.remote_parameters_set = true;
  }
  if (events.application_keys) {
    auto& k = *events.application_keys;
    if (install_application_keys(c.conn, *k.suite, version, k.rx, k.tx) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  for (auto& [level, bytes] : events.send)
    if (ngtcp2_conn_submit_crypto_data(c.conn, to_ngtcp2(level), bytes.data(), bytes.size()) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
  if (events.complete) ngtcp2_conn_handshake_completed(c.conn);
  return 0;
}

int on_client_initial(ngtcp2_conn* conn, void* user_data) {
  auto& c = *static_cast<Connection*>(user_data);
  if (install_initial_keys(conn, c.destination_id, ngtcp2_conn_get_client_chosen_version(conn), true) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  TlsEvents events;
  if (!c.tls.start(events)) return NGTCP2_ERR_CALLBACK_FAILURE;
  return apply(c, events);
}

int on_recv_crypto_data(ngtcp2_conn* conn, ngtcp2_crypto_level level, std::uint64_t, const std::uint8_t* data,
                        std::size_t length, void* user_data) {
  auto& c = *static_cast<Connection*>(user_data);
  Level ours = level == NGTCP2_CRYPTO_LEVEL_INITIAL     ? Level::initial
               : level == NGTCP2_CRYPTO_LEVEL_HANDSHAKE ? Level::handshake
                                                        : Level::application;
  TlsEvents events;
  if (!c.tls.receive(ours, ByteSpan(data, length), events)) {
    ngtcp2_conn_set_tls_alert(conn, c.tls.alert());
    c.failed = true;
    return NGTCP2_ERR_CRYPTO;
  }
  return apply(c, events);
}

int on_recv_retry(ngtcp2_conn* conn, const ngtcp2_pkt_hd* header, void* user_data) {
  // The server's new connection id keys the next Initials (RFC 9001 §5.2).
  auto& c = *static_cast<Connection*>(user_data);
  c.destination_id.assign(header->scid.data, header->scid.data + header->scid.datalen);
  return install_initial_keys(conn, c.destination_id, ngtcp2_conn_get_client_chosen_version(conn), true);
}

int on_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t length, void*) {
  Bytes id = crypto::random_bytes(length);
  ngtcp2_cid_init(cid, id.data(), id.size());
  crypto::random_bytes(std::span<std::uint8_t>(token, NGTCP2_STATELESS_RESET_TOKENLEN));
  return 0;
}

ngtcp2_transport_params local_parameters() {
  ChromiumTransportValues chromium;
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_data = chromium.initial_max_data;
  params.initial_max_stream_data_bidi_local = chromium.initial_max_stream_data;
  params.initial_max_stream_data_bidi_remote = chromium.initial_max_stream_data;
  params.initial_max_stream_data_uni = chromium.initial_max_stream_data;
  params.initial_max_streams_bidi = chromium.initial_max_streams_bidi;
  params.initial_max_streams_uni = chromium.initial_max_streams_uni;
  params.max_idle_timeout = chromium.max_idle_timeout_ms * NGTCP2_MILLISECONDS;
  params.max_udp_payload_size = chromium.max_udp_payload_size;
  params.max_datagram_frame_size = chromium.max_datagram_frame_size;
  params.grease_quic_bit = 0;
  return params;
}

void debug_log(void*, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

ngtcp2_path path_of(sockaddr_storage& local, socklen_t local_length, sockaddr_storage& remote,
                    socklen_t remote_length) {
  return {{reinterpret_cast<ngtcp2_sockaddr*>(&local), local_length},
          {reinterpret_cast<ngtcp2_sockaddr*>(&remote), remote_length},
          nullptr};
}

// A client connection as Chromium opens one: 8-byte destination id, empty source id, 1250-byte
// datagrams, Chromium's transport parameters in the hello and the same limits in ngtcp2.
Result<std::unique_ptr<Connection>> open_connection(ClientTlsConfig config, ngtcp2_path path) {
  config.transport_parameters = encode_chromium_transport_parameters({}, TransportParameterRandomness::draw());
  auto c = std::make_unique<Connection>(std::move(config));
  c->destination_id = crypto::random_bytes(kDestinationIdLength);
  ngtcp2_cid dcid, scid;
  ngtcp2_cid_init(&dcid, c->destination_id.data(), c->destination_id.size());
  ngtcp2_cid_init(&scid, nullptr, 0);
  ngtcp2_callbacks callbacks{};
  set_crypto_callbacks(callbacks);
  callbacks.client_initial = on_client_initial;
  callbacks.recv_crypto_data = on_recv_crypto_data;
  callbacks.recv_retry = on_recv_retry;
  callbacks.get_new_connection_id = on_new_connection_id;
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now();
  if (getenv("CULVERT_QUIC_DEBUG")) settings.log_printf = debug_log;
  settings.max_tx_udp_payload_size = kDatagramSize;
  settings.no_tx_udp_payload_size_shaping = 1;
  ngtcp2_transport_params params = local_parameters();
  if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path, kVersion1, &callbacks, &settings, &params, nullptr,
                             c.get()) != 0)
    return fail(Errc::tls_failed);
  return c;
}

}  // namespace

Result<std::vector<Bytes>> client_first_flight(const std::string& server_name) {
  // Documentation addresses (RFC 5737): the path is only a label here, nothing is sent.
  sockaddr_storage local{}, remote{};
  auto* l = reinterpret_cast<sockaddr_in*>(&local);
  auto* r = reinterpret_cast<sockaddr_in*>(&remote);
  l->sin_family = r->sin_family = AF_INET;
  l->sin_addr.s_addr = htonl(0xc0000201);
  r->sin_addr.s_addr = htonl(0xc0000202);
  r->sin_port = htons(443);
  ClientTlsConfig config;
  config.server_name = server_name;
  auto opened = open_connection(std::move(config), path_of(local, sizeof(sockaddr_in), remote, sizeof(sockaddr_in)));
  if (!opened) return fail(opened.error());
  std::vector<Bytes> datagrams;
  Bytes buffer(kDatagramSize);
  for (int i = 0; i < 8; ++i) {
    ngtcp2_pkt_info info{};
    ngtcp2_ssize n = ngtcp2_conn_write_pkt((*opened)->conn, nullptr, &info, buffer.data(), buffer.size(), now());
    if (n < 0) return fail(Errc::tls_failed);
    if (n == 0) break;
    datagrams.emplace_back(buffer.begin(), buffer.begin() + n);
  }
  if (datagrams.empty()) return fail(Errc::tls_failed);
  return datagrams;
}

Result<HandshakeReport> run_client_handshake(const std::string& host, std::uint16_t port, ClientTlsConfig config,
                                             std::chrono::milliseconds timeout) {
  sockaddr_storage remote{};
  socklen_t remote_length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&remote);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&remote);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    remote_length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    remote_length = sizeof(sockaddr_in6);
  } else {
    return fail(Errc::bad_config);
  }
  Socket socket;
  socket.fd = ::socket(remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (socket.fd < 0 || ::connect(socket.fd, reinterpret_cast<sockaddr*>(&remote), remote_length) != 0)
    return fail(std::error_code(errno, std::system_category()));
  sockaddr_storage local{};
  socklen_t local_length = sizeof local;
  ::getsockname(socket.fd, reinterpret_cast<sockaddr*>(&local), &local_length);

  ngtcp2_path path = path_of(local, local_length, remote, remote_length);
  auto opened = open_connection(std::move(config), path);
  if (!opened) return fail(opened.error());
  Connection& c = **opened;
  const auto started = std::chrono::steady_clock::now();
  const ngtcp2_tstamp start_ts = now();
  HandshakeReport report;
  Bytes out(kDatagramSize), in(kReceiveBuffer);
  const ngtcp2_tstamp deadline = start_ts + static_cast<ngtcp2_tstamp>(timeout.count()) * NGTCP2_MILLISECONDS;
  while (!ngtcp2_conn_get_handshake_completed(c.conn)) {
    for (;;) {
      ngtcp2_pkt_info info{};
      ngtcp2_ssize n = ngtcp2_conn_write_pkt(c.conn, nullptr, &info, out.data(), out.size(), now());
      if (n < 0) return fail(Errc::tls_failed);
      if (n == 0) break;
      if (::send(socket.fd, out.data(), static_cast<std::size_t>(n), 0) < 0)
        return fail(std::error_code(errno, std::system_category()));
      ++report.datagrams_sent;
    }
    ngtcp2_tstamp t = now();
    if (t >= deadline) return fail(Errc::timed_out);
    ngtcp2_tstamp until = std::min(deadline, ngtcp2_conn_get_expiry(c.conn));
    int wait_ms = until > t ? static_cast<int>((until - t) / NGTCP2_MILLISECONDS) + 1 : 0;
    pollfd pfd{socket.fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0 && errno != EINTR) return fail(std::error_code(errno, std::system_category()));
    if (ready > 0) {
      ssize_t got = ::recv(socket.fd, in.data(), in.size(), 0);
      if (got < 0) continue;  // e.g. ICMP unreachable: keep trying until the deadline
      ++report.datagrams_received;
      ngtcp2_pkt_info info{};
      int rv = ngtcp2_conn_read_pkt(c.conn, &path, &info, in.data(), static_cast<std::size_t>(got), now());
      if (rv != 0) return fail(c.failed ? Errc::tls_failed : Errc::protocol_violation);
    } else if (now() >= ngtcp2_conn_get_expiry(c.conn)) {
      if (ngtcp2_conn_handle_expiry(c.conn, now()) != 0) return fail(Errc::timed_out);
    }
  }
  report.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  report.alpn = c.tls.alpn();
  report.group = c.tls.group();
  if (const auto* ctx = ngtcp2_conn_get_crypto_ctx(c.conn); ctx && ctx->aead.native_handle)
    report.cipher_suite = static_cast<const tls13::CipherSuite*>(ctx->aead.native_handle)->id;
  report.peer_transport_parameters = c.tls.peer_transport_parameters();
  // A polite close, as a browser closing the tab would send.
  ngtcp2_connection_close_error close;
  ngtcp2_connection_close_error_default(&close);
  ngtcp2_connection_close_error_set_application_error(&close, 0x100, nullptr, 0);  // H3_NO_ERROR
  ngtcp2_pkt_info info{};
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c.conn, nullptr, &info, out.data(), out.size(), &close, now());
  if (n > 0) ::send(socket.fd, out.data(), static_cast<std::size_t>(n), 0);
  return report;
}

}  // namespace culvert::quic
