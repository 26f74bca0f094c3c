#include "quic/client_handshake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "crypto/crypto.h"
#include "quic/initial_shaper.h"
#include "quic/ngtcp2_crypto.h"
#include "quic/ngtcp2_support.h"
#include "quic/transport_parameters.h"

namespace culvert::quic {
namespace {

constexpr std::size_t kDestinationIdLength = 8;
constexpr std::size_t kDatagramSize = 1250;
constexpr std::size_t kReceiveBuffer = 65536;

struct Connection {
  ClientTls tls;
  Bytes destination_id;
  std::optional<InitialShaper> shaper;  // Chromium's framing of our Initials, until the handshake ends
  ngtcp2_conn* conn = nullptr;
  bool remote_parameters_set = false;
  bool failed = false;

  explicit Connection(ClientTlsConfig config) : tls(std::move(config)) {}
  ~Connection() {
    if (conn) ngtcp2_conn_del(conn);
  }
};

// The server's transport parameters as ngtcp2 gets them: without grease_quic_bit, so that it
// never clears our packets' fixed bit (Chromium does not; a censor sees that bit in every packet).
Bytes server_parameters(const Connection& c) {
  return without_transport_parameter(c.tls.peer_transport_parameters(), kGreaseQuicBit);
}

int on_client_initial(ngtcp2_conn* conn, void* user_data) {
  auto& c = *static_cast<Connection*>(user_data);
  if (install_initial_keys(conn, c.destination_id, ngtcp2_conn_get_client_chosen_version(conn), true) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  TlsEvents events;
  if (!c.tls.start(events)) return NGTCP2_ERR_CALLBACK_FAILURE;
  return apply_tls_events(c.conn, events, server_parameters(c), c.remote_parameters_set);
}

int on_recv_crypto_data(ngtcp2_conn* conn, ngtcp2_crypto_level level, std::uint64_t, const std::uint8_t* data,
                        std::size_t length, void* user_data) {
  auto& c = *static_cast<Connection*>(user_data);
  TlsEvents events;
  if (!c.tls.receive(from_ngtcp2(level), ByteSpan(data, length), events)) {
    ngtcp2_conn_set_tls_alert(conn, c.tls.alert());
    c.failed = true;
    return NGTCP2_ERR_CRYPTO;
  }
  return apply_tls_events(c.conn, events, server_parameters(c), c.remote_parameters_set);
}

int on_recv_retry(ngtcp2_conn* conn, const ngtcp2_pkt_hd* header, void* user_data) {
  // The server's new connection id keys the next Initials (RFC 9001 §5.2).
  auto& c = *static_cast<Connection*>(user_data);
  c.destination_id.assign(header->scid.data, header->scid.data + header->scid.datalen);
  if (c.shaper && !c.shaper->rekey(c.destination_id, ngtcp2_conn_get_client_chosen_version(conn))) c.shaper.reset();
  return install_initial_keys(conn, c.destination_id, ngtcp2_conn_get_client_chosen_version(conn), true);
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

// A client connection as Chromium opens one: 8-byte destination id, empty source id, 1250-byte
// datagrams, Chromium's transport parameters in the hello and the same limits in ngtcp2.
Result<std::unique_ptr<Connection>> open_connection(ClientTlsConfig config, ngtcp2_path path) {
  config.transport_parameters = encode_chromium_transport_parameters({}, TransportParameterRandomness::draw());
  auto c = std::make_unique<Connection>(std::move(config));
  c->destination_id = crypto::random_bytes(kDestinationIdLength);
  if (auto shaper = InitialShaper::create(c->destination_id, kVersion1)) c->shaper.emplace(std::move(*shaper));
  ngtcp2_cid dcid, scid;
  ngtcp2_cid_init(&dcid, c->destination_id.data(), c->destination_id.size());
  ngtcp2_cid_init(&scid, nullptr, 0);
  ngtcp2_callbacks callbacks{};
  set_crypto_callbacks(callbacks);
  callbacks.client_initial = on_client_initial;
  callbacks.recv_crypto_data = on_recv_crypto_data;
  callbacks.recv_retry = on_recv_retry;
  callbacks.get_new_connection_id = new_connection_id;
  ngtcp2_settings settings = connection_settings(kDatagramSize);
  settings.no_tx_udp_payload_size_shaping = 1;
  ngtcp2_transport_params params = local_parameters();
  if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path, kVersion1, &callbacks, &settings, &params, nullptr,
                             c.get()) != 0)
    return fail(Errc::tls_failed);
  return c;
}

// One datagram from ngtcp2 into `out`: its length, 0 when there is nothing to send, or an
// NGTCP2_ERR_* code. Every client Initial goes through the shaper (it renumbers them all); while
// the handshake runs ngtcp2 writes short, to leave the shaper room to re-frame.
ngtcp2_ssize write_datagram(Connection& c, Bytes& out) {
  const bool short_write = c.shaper && !ngtcp2_conn_get_handshake_completed(c.conn);
  out.resize(kDatagramSize);
  ngtcp2_pkt_info info{};
  ngtcp2_ssize n = ngtcp2_conn_write_pkt(c.conn, nullptr, &info, out.data(),
                                         short_write ? kUnshapedDatagramSize : out.size(), ngtcp2_now());
  if (n <= 0) return n;
  // Only long-header datagrams can start with an Initial; short-header ones are not copied.
  if (!c.shaper || (out[0] & 0x80) == 0) {
    out.resize(static_cast<std::size_t>(n));
    return n;
  }
  out = c.shaper->shape(ByteSpan(out.data(), static_cast<std::size_t>(n)));
  return static_cast<ngtcp2_ssize>(out.size());
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
  Bytes buffer;
  for (int i = 0; i < 8; ++i) {
    ngtcp2_ssize n = write_datagram(**opened, buffer);
    if (n < 0) return fail(Errc::tls_failed);
    if (n == 0) break;
    datagrams.push_back(buffer);
  }
  if (datagrams.empty()) return fail(Errc::tls_failed);
  return datagrams;
}

Result<HandshakeReport> run_client_handshake(const std::string& host, std::uint16_t port, ClientTlsConfig config,
                                             std::chrono::milliseconds timeout) {
  auto address = socket_address(host, port);
  if (!address) return fail(address.error());
  sockaddr_storage remote = address->storage;
  socklen_t remote_length = address->length;
  UdpSocket socket;
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
  const ngtcp2_tstamp start_ts = ngtcp2_now();
  HandshakeReport report;
  Bytes out(kDatagramSize), in(kReceiveBuffer);
  const ngtcp2_tstamp deadline = start_ts + static_cast<ngtcp2_tstamp>(timeout.count()) * NGTCP2_MILLISECONDS;
  while (!ngtcp2_conn_get_handshake_completed(c.conn)) {
    for (;;) {
      ngtcp2_ssize n = write_datagram(c, out);
      if (n < 0) return fail(Errc::tls_failed);
      if (n == 0) break;
      if (::send(socket.fd, out.data(), static_cast<std::size_t>(n), 0) < 0)
        return fail(std::error_code(errno, std::system_category()));
      ++report.datagrams_sent;
    }
    ngtcp2_tstamp t = ngtcp2_now();
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
      if (c.shaper && (in[0] & 0x80) != 0) {
        // The server acknowledged our renumbered Initials: back to ngtcp2's numbers.
        Bytes datagram(in.begin(), in.begin() + got);
        c.shaper->restore(datagram);
        std::copy(datagram.begin(), datagram.end(), in.begin());
      }
      ngtcp2_pkt_info info{};
      int rv = ngtcp2_conn_read_pkt(c.conn, &path, &info, in.data(), static_cast<std::size_t>(got), ngtcp2_now());
      if (rv != 0) {
        if (quic_debug_enabled()) std::fprintf(stderr, "ngtcp2_conn_read_pkt: %s\n", ngtcp2_strerror(rv));
        return fail(c.failed ? Errc::tls_failed : Errc::protocol_violation);
      }
    } else if (ngtcp2_now() >= ngtcp2_conn_get_expiry(c.conn)) {
      if (ngtcp2_conn_handle_expiry(c.conn, ngtcp2_now()) != 0) return fail(Errc::timed_out);
    }
  }
  report.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  report.alpn = c.tls.alpn();
  report.group = c.tls.group();
  if (const auto* ctx = ngtcp2_conn_get_crypto_ctx(c.conn); ctx && ctx->aead.native_handle)
    report.cipher_suite = static_cast<const tls13::CipherSuite*>(ctx->aead.native_handle)->id;
  report.peer_transport_parameters = c.tls.peer_transport_parameters();
  // Our Finished first (the server completes only with it), then a polite close, as a browser
  // closing the tab would send.
  for (;;) {
    ngtcp2_ssize n = write_datagram(c, out);
    if (n <= 0) break;
    if (::send(socket.fd, out.data(), static_cast<std::size_t>(n), 0) < 0) break;
    ++report.datagrams_sent;
  }
  ngtcp2_connection_close_error close;
  ngtcp2_connection_close_error_default(&close);
  ngtcp2_connection_close_error_set_application_error(&close, 0x100, nullptr, 0);  // H3_NO_ERROR
  ngtcp2_pkt_info info{};
  out.resize(kDatagramSize);
  ngtcp2_ssize n =
      ngtcp2_conn_write_connection_close(c.conn, nullptr, &info, out.data(), out.size(), &close, ngtcp2_now());
  if (n > 0) ::send(socket.fd, out.data(), static_cast<std::size_t>(n), 0);
  return report;
}

}  // namespace culvert::quic
