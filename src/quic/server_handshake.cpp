#include "quic/server_handshake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "crypto/crypto.h"
#include "quic/h3_cover.h"
#include "quic/ngtcp2_crypto.h"
#include "quic/ngtcp2_support.h"
#include "quic/transport_parameters.h"

namespace culvert::quic {
namespace {

constexpr std::size_t kServerIdLength = 8;
constexpr std::size_t kDatagramSize = 1452;
constexpr std::size_t kReceiveBuffer = 65536;
constexpr std::uint64_t kH3NoError = 0x100;

struct Connection {
  std::unique_ptr<ServerTls> tls;
  std::unique_ptr<H3Cover> h3;  // the cover over HTTP/3, once the handshake is complete
  ngtcp2_conn* conn = nullptr;
  bool peer_parameters_set = false;
  bool local_parameters_set = false;
  bool http3_cover = false;
  sockaddr_storage local{}, remote{};
  socklen_t local_length = 0, remote_length = 0;
  ngtcp2_path path{};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> completed_at;
  std::chrono::steady_clock::time_point last_datagram = started;
  ServedHandshake report;

  ~Connection() {
    h3.reset();  // nghttp3 first: it refers to the QUIC connection's streams
    if (conn) ngtcp2_conn_del(conn);
  }
};

int on_recv_client_initial(ngtcp2_conn* conn, const ngtcp2_cid* dcid, void*) {
  return install_initial_keys(conn, ByteSpan(dcid->data, dcid->datalen), ngtcp2_conn_get_client_chosen_version(conn),
                              false);
}

int on_recv_crypto_data(ngtcp2_conn* conn, ngtcp2_crypto_level level, std::uint64_t, const std::uint8_t* data,
                        std::size_t length, void* user_data) {
  auto& c = *static_cast<Connection*>(user_data);
  if (!c.local_parameters_set) {
    // Encoded only now: ngtcp2 fills in the version it chose once it has read the client's Initial.
    Bytes params(512);
    ngtcp2_ssize n = ngtcp2_conn_encode_local_transport_params(conn, params.data(), params.size());
    if (n < 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    params.resize(static_cast<std::size_t>(n));
    c.tls->set_transport_parameters(std::move(params));
    c.local_parameters_set = true;
  }
  TlsEvents events;
  if (!c.tls->receive(from_ngtcp2(level), ByteSpan(data, length), events)) {
    ngtcp2_conn_set_tls_alert(conn, c.tls->alert());
    return NGTCP2_ERR_CRYPTO;
  }
  int rv = apply_tls_events(conn, events, c.tls->peer_transport_parameters(), c.peer_parameters_set);
  if (rv == 0 && events.complete && c.http3_cover) {
    // Now, not after this datagram: a client's first request often rides with its Finished.
    c.h3 = std::make_unique<H3Cover>(conn);
    if (!c.h3->start()) return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  return rv;
}

Connection& of(void* user_data) { return *static_cast<Connection*>(user_data); }

int on_recv_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t stream_id, std::uint64_t,
                        const std::uint8_t* data, std::size_t length, void* user_data, void*) {
  auto& c = of(user_data);
  if (!c.h3) return 0;
  return c.h3->on_stream_data(stream_id, ByteSpan(data, length), (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
}

int on_acked_stream_data_offset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, std::uint64_t length,
                                void* user_data, void*) {
  auto& c = of(user_data);
  return c.h3 ? c.h3->on_acked(stream_id, length) : 0;
}

int on_stream_close(ngtcp2_conn*, std::uint32_t, std::int64_t stream_id, std::uint64_t app_error_code, void* user_data,
                    void*) {
  auto& c = of(user_data);
  return c.h3 ? c.h3->on_stream_close(stream_id, app_error_code) : 0;
}

int on_stream_reset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, std::uint64_t, void* user_data, void*) {
  auto& c = of(user_data);
  return c.h3 ? c.h3->on_stream_reset(stream_id) : 0;
}

int on_extend_max_stream_data(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, void* user_data, void*) {
  auto& c = of(user_data);
  return c.h3 ? c.h3->on_extend_max_stream_data(stream_id) : 0;
}

int on_extend_max_remote_bidi(ngtcp2_conn*, std::uint64_t max_streams, void* user_data) {
  auto& c = of(user_data);
  if (c.h3) c.h3->on_extend_max_remote_bidi_streams(max_streams);
  return 0;
}

// What an HTTP/3 site's server offers: room for a page's requests, the three unidirectional
// streams HTTP/3 needs each way and more, DATAGRAM frames for the tunnel's UDP.
ngtcp2_transport_params local_parameters(const ngtcp2_cid& original_destination_id) {
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.original_dcid = original_destination_id;
  params.initial_max_data = 16 * 1024 * 1024;
  params.initial_max_stream_data_bidi_local = 1024 * 1024;
  params.initial_max_stream_data_bidi_remote = 1024 * 1024;
  params.initial_max_stream_data_uni = 1024 * 1024;
  params.initial_max_streams_bidi = 128;
  params.initial_max_streams_uni = 16;
  params.max_idle_timeout = 60 * NGTCP2_SECONDS;
  params.max_datagram_frame_size = 65535;
  params.stateless_reset_token_present = 1;
  crypto::random_bytes(std::span<std::uint8_t>(params.stateless_reset_token, NGTCP2_STATELESS_RESET_TOKENLEN));
  return params;
}

// A connection for the client's first Initial (already checked by ngtcp2_accept).
Result<std::unique_ptr<Connection>> accept_connection(const ngtcp2_pkt_hd& header, const ServerTlsConfig& tls,
                                                      const sockaddr_storage& local, socklen_t local_length,
                                                      const sockaddr_storage& remote, socklen_t remote_length) {
  auto c = std::make_unique<Connection>();
  c->local = local;
  c->local_length = local_length;
  c->remote = remote;
  c->remote_length = remote_length;
  c->path = path_of(c->local, c->local_length, c->remote, c->remote_length);
  Bytes id = crypto::random_bytes(kServerIdLength);
  ngtcp2_cid scid;
  ngtcp2_cid_init(&scid, id.data(), id.size());
  ngtcp2_callbacks callbacks{};
  set_crypto_callbacks(callbacks);
  callbacks.recv_client_initial = on_recv_client_initial;
  callbacks.recv_crypto_data = on_recv_crypto_data;
  callbacks.get_new_connection_id = new_connection_id;
  callbacks.recv_stream_data = on_recv_stream_data;
  callbacks.acked_stream_data_offset = on_acked_stream_data_offset;
  callbacks.stream_close = on_stream_close;
  callbacks.stream_reset = on_stream_reset;
  callbacks.extend_max_stream_data = on_extend_max_stream_data;
  callbacks.extend_max_remote_streams_bidi = on_extend_max_remote_bidi;
  ngtcp2_settings settings = connection_settings(kDatagramSize);
  ngtcp2_transport_params params = local_parameters(header.dcid);
  params.initial_scid = scid;  // ngtcp2 0.12 copies it from here, whatever its documentation says
  if (ngtcp2_conn_server_new(&c->conn, &header.scid, &scid, &c->path, header.version, &callbacks, &settings, &params,
                             nullptr, c.get()) != 0)
    return fail(Errc::tls_failed);
  c->tls = std::make_unique<ServerTls>(tls);
  return c;
}

bool same_peer(const Connection& c, const sockaddr_storage& peer, socklen_t length) {
  return length == c.remote_length && std::memcmp(&peer, &c.remote, length) == 0;
}

}  // namespace

Result<void> serve_handshakes(const ServerTlsConfig& tls, const ServeOptions& options) {
  auto address = socket_address(options.host, options.port);
  if (!address) return fail(address.error());
  sockaddr_storage local = address->storage;
  socklen_t local_length = address->length;
  UdpSocket socket;
  socket.fd = ::socket(local.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (socket.fd < 0 || ::bind(socket.fd, reinterpret_cast<sockaddr*>(&local), local_length) != 0)
    return fail(std::error_code(errno, std::system_category()));
  ::getsockname(socket.fd, reinterpret_cast<sockaddr*>(&local), &local_length);
  if (options.on_listening) options.on_listening(port_of(local));

  const ngtcp2_tstamp deadline =
      ngtcp2_now() + static_cast<ngtcp2_tstamp>(options.timeout.count()) * NGTCP2_MILLISECONDS;
  const ngtcp2_tstamp linger = static_cast<ngtcp2_tstamp>(options.linger.count()) * NGTCP2_MILLISECONDS;
  int served = 0;
  std::unique_ptr<Connection> c;
  Bytes out(kDatagramSize), in(kReceiveBuffer);

  auto send = [&](ngtcp2_ssize n) {
    if (n <= 0) return;
    ::sendto(socket.fd, out.data(), static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&c->remote),
             c->remote_length);
    ++c->report.datagrams_sent;
  };
  // Ends the connection: with CONNECTION_CLOSE carrying `close` unless ngtcp2 is already closing
  // or draining, then reports it.
  auto finish = [&](const ngtcp2_connection_close_error* close) {
    if (close && !ngtcp2_conn_is_in_closing_period(c->conn) && !ngtcp2_conn_is_in_draining_period(c->conn)) {
      ngtcp2_pkt_info info{};
      send(ngtcp2_conn_write_connection_close(c->conn, nullptr, &info, out.data(), out.size(), close, ngtcp2_now()));
    }
    auto& r = c->report;
    // TLS's word, not ngtcp2's: a client that closes in the datagram carrying its Finished leaves
    // ngtcp2 draining, which it does not count as a completed handshake.
    r.completed = c->tls->complete() && c->tls->alert() == 0;
    r.alert = c->tls->alert();
    r.alpn = c->tls->alpn();
    r.server_name = c->tls->server_name();
    r.cipher_suite = c->tls->cipher_suite();
    r.group = c->tls->group();
    r.peer_transport_parameters = c->tls->peer_transport_parameters();
    r.http3_requests = c->h3 ? c->h3->requests_answered() : 0;
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        (c->completed_at ? *c->completed_at : std::chrono::steady_clock::now()) - c->started);
    if (options.on_connection) options.on_connection(r);
    c.reset();
    ++served;
  };

  while (served < options.connections) {
    ngtcp2_tstamp t = ngtcp2_now();
    if (t >= deadline) return fail(Errc::timed_out);
    ngtcp2_tstamp until = deadline;
    if (c) {
      for (;;) {
        ngtcp2_pkt_info info{};
        ngtcp2_ssize n = c->h3 ? c->h3->write_packet(out.data(), out.size(), ngtcp2_now())
                               : ngtcp2_conn_write_pkt(c->conn, nullptr, &info, out.data(), out.size(), ngtcp2_now());
        if (n < 0) {
          ngtcp2_connection_close_error close;
          ngtcp2_connection_close_error_set_transport_error_liberr(&close, static_cast<int>(n), nullptr, 0);
          finish(&close);
          break;
        }
        if (n == 0) break;
        send(n);
      }
      if (!c) continue;
      if (!c->completed_at && ngtcp2_conn_get_handshake_completed(c->conn))
        c->completed_at = std::chrono::steady_clock::now();
      until = std::min(until, ngtcp2_conn_get_expiry(c->conn));
      if (c->completed_at) {
        // Serving HTTP/3, the connection lasts while the client is active.
        auto since = options.http3_cover ? std::max(*c->completed_at, c->last_datagram) : *c->completed_at;
        auto done_at = static_cast<ngtcp2_tstamp>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(since.time_since_epoch()).count());
        if (t >= done_at + linger) {
          // A browser's tab closed: H3_NO_ERROR, as an HTTP/3 server ends an idle connection.
          ngtcp2_connection_close_error close;
          ngtcp2_connection_close_error_default(&close);
          ngtcp2_connection_close_error_set_application_error(&close, kH3NoError, nullptr, 0);
          finish(&close);
          continue;
        }
        until = std::min(until, done_at + linger);
      }
    }
    t = ngtcp2_now();
    int wait_ms = until > t ? static_cast<int>((until - t) / NGTCP2_MILLISECONDS) + 1 : 0;
    pollfd pfd{socket.fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0 && errno != EINTR) return fail(std::error_code(errno, std::system_category()));
    if (ready > 0) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      ssize_t got = ::recvfrom(socket.fd, in.data(), in.size(), 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
      if (got <= 0) continue;
      ByteSpan datagram(in.data(), static_cast<std::size_t>(got));
      if (!c) {
        ngtcp2_pkt_hd header;
        if (ngtcp2_accept(&header, datagram.data(), datagram.size()) != 0) continue;  // not a first Initial
        auto accepted = accept_connection(header, tls, local, local_length, peer, peer_length);
        if (!accepted) continue;
        c = std::move(*accepted);
        c->http3_cover = options.http3_cover;
      } else if (!same_peer(*c, peer, peer_length)) {
        continue;  // one connection at a time
      }
      ++c->report.datagrams_received;
      c->last_datagram = std::chrono::steady_clock::now();
      ngtcp2_pkt_info info{};
      int rv = ngtcp2_conn_read_pkt(c->conn, &c->path, &info, datagram.data(), datagram.size(), ngtcp2_now());
      if (rv == NGTCP2_ERR_DRAINING) {
        finish(nullptr);  // the client closed
      } else if (rv != 0) {
        ngtcp2_connection_close_error close;
        if (rv == NGTCP2_ERR_CRYPTO)
          ngtcp2_connection_close_error_set_transport_error_tls_alert(&close, c->tls->alert(), nullptr, 0);
        else
          ngtcp2_connection_close_error_set_transport_error_liberr(&close, rv, nullptr, 0);
        finish(&close);
      }
    } else if (c && ngtcp2_now() >= ngtcp2_conn_get_expiry(c->conn)) {
      if (ngtcp2_conn_handle_expiry(c->conn, ngtcp2_now()) != 0) finish(nullptr);  // idle or handshake timeout
    }
  }
  return {};
}

}  // namespace culvert::quic
