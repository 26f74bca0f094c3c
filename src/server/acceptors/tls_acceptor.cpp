// The tls transport's gate (TlsAcceptor::handle): every connection is met the way a stock nginx
// meets it (cover/), and only a client that proves a user's key inside the TLS session it has
// just completed leaves that path for a tunnel.
//   1. nginx's first look: peek one byte (client_header_timeout 60 s from accept). A byte that
//      cannot start TLS (not 0x16, high bit clear) is plain HTTP on a TLS port: the cover answers
//      it (or, with cover.upstream_tls, the upstream web server's own TLS port does, raw).
//   2. The TLS handshake, with nginx's SSL configuration (transport/tls/context.h).
//   3. nginx's first read after it: 1 KiB for HTTP/1.x; for HTTP/2 what is there, after sending
//      the HTTP/2 server preface if nothing is. A valid preamble (auth.h) is a user's tunnel;
//      anything else continues as a request to the cover site, from those very bytes.
#include "server/acceptors/tls_acceptor.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <asio/experimental/awaitable_operators.hpp>

#include "core/await.h"
#include "core/congestion.h"
#include "core/dialer.h"
#include "core/mirror_relay.h"
#include "core/relay.h"
#include "core/tcp_stream.h"
#include "cover/conn.h"
#include "cover/h2.h"
#include "cover/http1.h"
#include "server/server.h"
#include "transport/tls/acme_challenges.h"
#include "transport/tls/auth.h"
#include "transport/tls/certificate.h"
#include "transport/tls/tls_stream.h"

namespace culvert {
namespace {

// One read buffer for every connection's first read (one thread per io_context): an HTTP/2
// first read may take 256 KiB, which idle connections must not each hold.
std::vector<std::uint8_t>& first_read_buffer() {
  static thread_local std::vector<std::uint8_t> buffer(cover::kH2ReadSize);
  return buffer;
}

std::string selected_alpn(SSL* ssl) {
  const unsigned char* alpn = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &len);
  return std::string(reinterpret_cast<const char*>(alpn), len);
}

}  // namespace

std::int64_t file_modified_at(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

Result<void> TlsAcceptor::start(std::string& message) {
  const auto& config = server_.config();
  if (auto loaded = load_certificate(message); !loaded) return loaded;
  if (!config.acme.directory.empty()) {
    // Until the CA's certificate arrives, the one on disk (self-signed by init) is served.
    acme_ = std::make_unique<acme::Manager>(acme_options());
    acme_->start();
  }
  // The built-in cover runs in-process, on each connection's own socket (cover/).
  if (config.cover.mode == CoverConfig::Mode::upstream) split_upstreams();
  return {};
}

Result<void> TlsAcceptor::reload(std::string& message) {
  if (auto loaded = load_certificate(message); !loaded) return loaded;
  if (server_.config().cover.mode == CoverConfig::Mode::upstream) split_upstreams();
  if (acme_) acme_->update(acme_options());  // SIGHUP also checks the certificate now
  return {};
}

void TlsAcceptor::tick() { reload_certificate_if_changed(); }

void TlsAcceptor::stop() {
  if (acme_) acme_->stop();
}

acme::ManagerOptions TlsAcceptor::acme_options() const {
  const auto& config = server_.config();
  acme::ManagerOptions o;
  o.order.directory = config.acme.directory;
  o.order.email = config.acme.email;
  o.order.ca_file = config.acme.ca_file.empty() ? "" : config.path(config.acme.ca_file);
  o.order.account_key_file = config.path(config.acme.account_key);
  o.order.name = config.sni.empty() ? config.public_host : config.sni;
  o.certificate_file = config.path(config.certificate);
  o.key_file = config.path(config.key);
  o.renew_before = std::chrono::hours(24 * config.acme.renew_before_days);
  return o;
}

Result<void> TlsAcceptor::load_certificate(std::string& message) {
  const auto& config = server_.config();
  tls::ServerTlsOptions tls_options{config.path(config.certificate), config.path(config.key),
                                    config.cover.effective_alpn()};
  auto certificate_time = file_modified_at(tls_options.certificate_file);
  auto key_time = file_modified_at(tls_options.key_file);
  auto ctx = tls::make_server_context(tls_options);
  if (!ctx) {
    message = "cannot load certificate " + tls_options.certificate_file + " / key " + tls_options.key_file;
    return fail(ctx.error());
  }
  // Handshakes in progress still use the old context (and its ALPN list): keep the last few.
  if (tls_.ctx) retired_tls_.push_back(std::move(tls_));
  if (retired_tls_.size() > 4) retired_tls_.erase(retired_tls_.begin());
  tls_ = std::move(*ctx);
  certificate_loaded_ = std::max(certificate_time, key_time);
  return {};
}

void TlsAcceptor::reload_certificate_if_changed() {
  const auto& config = server_.config();
  auto changed = std::max(file_modified_at(config.path(config.certificate)), file_modified_at(config.path(config.key)));
  if (changed == 0 || changed == certificate_loaded_) return;
  std::string message;
  if (load_certificate(message)) {
    spdlog::info("certificate files changed: new certificate in use for new connections");
  } else {
    certificate_loaded_ = changed;  // do not retry a broken pair every tick; the next change retries
    spdlog::error("certificate files changed but cannot be loaded ({}); keeping the old one", message);
  }
}

void TlsAcceptor::split_upstreams() {
  const auto& config = server_.config();
  split_host_port(config.cover.upstream, cover_host_, cover_port_);
  cover_tls_host_.clear();
  cover_tls_port_ = 0;
  if (!config.cover.upstream_tls.empty()) split_host_port(config.cover.upstream_tls, cover_tls_host_, cover_tls_port_);
}

asio::awaitable<Result<asio::ip::tcp::socket>> TlsAcceptor::connect_upstream(const std::string& host,
                                                                             std::uint16_t port) {
  // Named locals, not temporaries, in co_await expressions: GCC 12 mis-destroys such temporaries.
  Destination cover{Destination::Kind::domain, host, port};
  DialOptions options{true, server_.config().connect_timeout, {}};
  auto result = co_await dial(cover, options);
  co_return result;
}

asio::awaitable<void> TlsAcceptor::handle(asio::ip::tcp::socket socket) {
  const auto& config = server_.config();
  auto& metrics = server_.metrics();
  try {
    auto accepted = cover::Clock::now();
    auto header_deadline = accepted + config.handshake_timeout;
    bool upstream = config.cover.mode == CoverConfig::Mode::upstream;
    cover::Conn conn(std::move(socket));

    int first = co_await conn.peek_first_byte(header_deadline);
    if (first < 0) {
      conn.close(true);
      co_return;
    }
    if (first != 0x16 && !(first & 0x80)) {
      ++metrics.cover_relays_total;
      if (upstream && !cover_tls_host_.empty()) {
        // The upstream's own TLS port meets these bytes exactly as it meets them directly.
        auto target = co_await connect_upstream(cover_tls_host_, cover_tls_port_);
        if (!target) {
          spdlog::warn("cover upstream (TLS port) unreachable: {}", target.error().message());
          co_return;
        }
        auto [client, ssl] = conn.release();
        co_await mirror_relay(client, *target, config.stream_idle_timeout);
        co_return;
      }
      cover::Http1Options options;
      options.plain_on_tls_port = true;
      options.header_deadline = header_deadline;
      co_await cover::serve_http1(conn, options);
      co_return;
    }

    std::error_code ignored;
    conn.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    auto started = cover::Clock::now();
    SSL* ssl = tls::new_server_ssl(tls_);
    if (!ssl || !co_await conn.handshake(ssl, header_deadline)) {
      ++metrics.handshake_failures_total;
      conn.close(true);
      co_return;
    }
    metrics.handshake_seconds.observe(std::chrono::duration<double>(cover::Clock::now() - started).count());
    auto alpn = selected_alpn(conn.ssl());
    if (alpn == tls::kAcmeTlsAlpn) {
      // An ACME CA validated our tls-alpn-01 challenge with the handshake itself (RFC 8737).
      conn.close(false);
      co_return;
    }
    bool h2 = alpn == "h2";

    // With an upstream web server, connect to it now: a silent peer meets the upstream's own
    // timers and closes, as it would meet them at that server's own TLS port.
    std::optional<asio::ip::tcp::socket> cover_socket;
    if (upstream) {
      auto connected = co_await connect_upstream(cover_host_, cover_port_);
      if (!connected) {
        spdlog::warn("cover site unreachable: {}", connected.error().message());
        conn.close(true);
        co_return;
      }
      cover_socket.emplace(std::move(*connected));
    }

    // nginx's first read after the handshake.
    auto& buffer = first_read_buffer();
    std::span<std::uint8_t> into(buffer.data(), h2 ? cover::kH2ReadSize : cover::kHeaderBufferSize);
    bool preface_sent = false;
    auto read = conn.recv_now(into);
    if (h2 && !upstream && read.status == cover::ReadStatus::data && read.n == 0) {
      // Nothing yet: nginx sends its SETTINGS now, then waits.
      preface_sent = true;
      if (!co_await conn.send(cover::h2_server_preface())) {
        conn.close(true);
        co_return;
      }
    }
    bool upstream_spoke = false;
    if (read.status == cover::ReadStatus::data && read.n == 0) {
      if (cover_socket) {
        using namespace asio::experimental::awaitable_operators;
        auto race = co_await (conn.recv(into, header_deadline) ||
                              cover_socket->async_wait(asio::ip::tcp::socket::wait_read, use_tuple));
        if (race.index() == 0) {
          read = std::get<0>(race);
        } else {
          upstream_spoke = true;  // the upstream closed (or spoke) first: relay from here
          read = {cover::ReadStatus::data, 0};
        }
      } else {
        read = co_await conn.recv(into, header_deadline);
      }
    }
    Bytes first_bytes;
    if (read.status == cover::ReadStatus::data) first_bytes.assign(into.begin(), into.begin() + read.n);

    if (first_bytes.size() >= tls::kPreambleSize) {
      tls::Exporter exporter{};
      bool exported =
          SSL_export_keying_material(conn.ssl(), exporter.data(), exporter.size(), tls::kExporterLabel.data(),
                                     tls::kExporterLabel.size(), nullptr, 0, 0) == 1;
      if (exported) {
        if (auto user = server_.authenticate(first_bytes, exporter); user && server_.admit(*user)) {
          // An h2 tunnel always begins with the server preface: the client drops those 40 bytes.
          if (h2 && !preface_sent && !co_await conn.send(cover::h2_server_preface())) {
            conn.close(true);
            co_return;
          }
          if (cover_socket) cover_socket->close(ignored);
          auto [sock, ssl_object] = conn.release();
          auto tls = std::make_unique<tls::TlsStream>(std::move(sock), ssl_object);
          tls->tune_for_bulk();
          int fd = tls->socket().native_handle();
          limit_unsent(fd, kTunnelUnsentLimit);
          Bytes rest(first_bytes.begin() + tls::kPreambleSize, first_bytes.end());
          co_await server_.run_tunnel(std::move(tls), rest, *user, fd);
          co_return;
        }
      }
    }
    ++metrics.auth_failures_total;
    ++metrics.cover_relays_total;

    if (cover_socket) {
      // The operator's web server behind us gets the decrypted request as it came.
      TcpStream cover(std::move(*cover_socket));
      if (!first_bytes.empty() && co_await cover.write_all(asio::buffer(first_bytes))) co_return;
      auto [sock, ssl_object] = conn.release();
      tls::TlsStream tls(std::move(sock), ssl_object);
      if (!upstream_spoke && read.status != cover::ReadStatus::data) co_await cover.shutdown_send();
      co_await relay(tls, cover, config.stream_idle_timeout);
      co_return;
    }
    if (h2) {
      cover::H2Options options;
      options.header_deadline = header_deadline;
      options.first_bytes = first_bytes;
      options.preface_sent = preface_sent;
      options.claims = {server_.subscription_claim()};
      co_await cover::serve_h2(conn, options);
    } else {
      cover::Http1Options options;
      options.header_deadline = header_deadline;
      options.first_bytes = first_bytes;
      options.claims = {server_.subscription_claim()};
      co_await cover::serve_http1(conn, options);
    }
  } catch (const std::exception& e) {
    spdlog::error("connection handler failed: {}", e.what());
  }
}

}  // namespace culvert
