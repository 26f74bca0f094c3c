#include "server/server.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include "core/await.h"

#include "core/relay.h"
#include "core/tcp_stream.h"
#include "server/cover_site.h"
#include "server/dialer.h"
#include "transport/tls/auth.h"
#include "transport/tls/tls_stream.h"

namespace culvert {
namespace {

constexpr std::size_t kFirstReadSize = 16 * 1024 + 256;  // one full TLS record

mux::ResetReason reset_reason_for(std::error_code ec) {
  if (ec == Errc::destination_refused) return mux::ResetReason::refused;
  if (ec == Errc::timed_out) return mux::ResetReason::timed_out;
  return mux::ResetReason::dial_failed;
}

}  // namespace

Server::Server(asio::io_context& io, ServerConfig config, std::unique_ptr<UserStore> store)
    : io_(io), config_(std::move(config)), store_(std::move(store)), acceptor_(io), cover_acceptor_(io) {}

Server::~Server() { stop(); }

Result<void> Server::start(std::string& message) {
  tls::ServerTlsOptions tls_options{config_.path(config_.certificate), config_.path(config_.key), config_.cover.alpn};
  auto ctx = tls::make_server_context(tls_options);
  if (!ctx) {
    message = "cannot load certificate " + tls_options.certificate_file + " / key " + tls_options.key_file;
    return fail(ctx.error());
  }
  tls_ = std::move(*ctx);

  if (config_.cover.mode == CoverConfig::Mode::builtin) {
    asio::ip::tcp::endpoint cover(asio::ip::make_address("127.0.0.1"), 0);
    cover_acceptor_.open(cover.protocol());
    cover_acceptor_.bind(cover);
    cover_acceptor_.listen();
    cover_host_ = "127.0.0.1";
    cover_port_ = cover_acceptor_.local_endpoint().port();
    asio::co_spawn(io_, run_cover_site(cover_acceptor_, CoverTimeouts{}), asio::detached);
  } else {
    split_host_port(config_.cover.upstream, cover_host_, cover_port_);
  }

  if (auto listening = listen_on(acceptor_, config_.listen, message); !listening) return listening;
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  cover_acceptor_.close(ignored);
  auto tunnels = tunnels_;
  for (auto& t : tunnels) t->close(make_error_code(Errc::tunnel_closed));
}

asio::awaitable<void> Server::accept_loop() {
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (stopping_) co_return;
    if (ec) {
      // EMFILE and the like: log, wait, go on (never spin).
      spdlog::warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(io_, handle_connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<Result<asio::ip::tcp::socket>> Server::connect_cover() {
  // Named locals, not temporaries, in co_await expressions: GCC 12 mis-destroys such temporaries.
  Destination cover{Destination::Kind::domain, cover_host_, cover_port_};
  DialOptions options{true, config_.connect_timeout};
  auto result = co_await dial(cover, options);
  co_return result;
}

std::optional<User> Server::authenticate(ByteSpan first_record, const std::array<std::uint8_t, 32>& exporter) {
  auto preamble = tls::parse_preamble(first_record);
  if (!preamble || preamble->version != mux::kVersion) return std::nullopt;
  auto user = store_->find_active(preamble->key_id);
  if (!user) {
    spdlog::error("user store lookup failed: {}", user.error().message());
    return std::nullopt;
  }
  // Unknown key ids still cost one HMAC, so timing does not tell known ids from unknown ones.
  static const std::array<std::uint8_t, 32> kDummySecret{};
  const auto& secret = *user ? (*user)->credential.secret : kDummySecret;
  bool ok = tls::verify_preamble(*preamble, secret, exporter);
  if (!ok || !*user) return std::nullopt;
  return **user;
}

asio::awaitable<void> Server::handle_connection(asio::ip::tcp::socket socket) {
  using namespace asio::experimental::awaitable_operators;
  try {
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    SSL* ssl = SSL_new(tls_.ctx.get());
    if (!ssl) co_return;
    SSL_set_accept_state(ssl);
    auto tls = std::make_unique<tls::TlsStream>(std::move(socket), ssl);

    asio::steady_timer deadline(io_);
    deadline.expires_after(config_.handshake_timeout);
    auto hs = co_await (tls->handshake() || deadline.async_wait(use_tuple));
    if (hs.index() == 1 || std::get<0>(hs)) co_return;  // failed or timed out: close, as the cover's TLS would

    // Connect to the cover before reading anything, so that a silent peer meets the cover's own
    // time limits and close behaviour, not ours.
    auto cover_socket = co_await connect_cover();
    if (!cover_socket) {
      spdlog::warn("cover site unreachable: {}", cover_socket.error().message());
      co_return;
    }
    TcpStream cover(std::move(*cover_socket));

    std::vector<std::uint8_t> first(kFirstReadSize);
    std::vector<std::uint8_t> cover_first(16 * 1024);
    auto race = co_await (tls->read_some(asio::buffer(first)) || cover.read_some(asio::buffer(cover_first)));
    if (race.index() == 0) {
      auto [ec, n] = std::get<0>(race);
      if (ec) {
        // The peer closed or broke TLS before sending anything: let the cover see the same.
        if (ec == asio::error::eof) {
          co_await cover.shutdown_send();
          co_await relay(*tls, cover, config_.stream_idle_timeout);
        }
        co_return;
      }
      ByteSpan record(first.data(), n);
      auto exporter = tls->export_key(tls::kExporterLabel);
      if (exporter && n >= tls::kPreambleSize) {
        if (auto user = authenticate(record, *exporter)) {
          cover.close();
          co_await run_tunnel(std::move(tls), record.subspan(tls::kPreambleSize), *user);
          co_return;
        }
      }
      if (co_await cover.write_all(asio::buffer(first.data(), n))) co_return;
    } else {
      auto [ec, n] = std::get<1>(race);
      if (n > 0 && co_await tls->write_all(asio::buffer(cover_first.data(), n))) co_return;
      if (ec == asio::error::eof) co_await tls->shutdown_send();
      if (ec && ec != asio::error::eof) co_return;
    }
    co_await relay(*tls, cover, config_.stream_idle_timeout);
  } catch (const std::exception& e) {
    spdlog::error("connection handler failed: {}", e.what());
  }
}

asio::awaitable<void> Server::run_tunnel(ByteStreamPtr tls, ByteSpan after_preamble, const User& user) {
  mux::SessionOptions options;
  options.is_client = false;
  options.keepalive_interval = std::chrono::milliseconds(0);
  options.dead_after = std::chrono::milliseconds(90000);
  options.idle_close = std::chrono::milliseconds(600000);
  auto session = mux::Session::create(io_.get_executor(), std::move(tls), options);
  session->feed_input(after_preamble);
  session->set_accept_handler([this](std::unique_ptr<mux::Stream> stream, Destination destination) {
    asio::co_spawn(io_, handle_stream(std::move(stream), std::move(destination)), asio::detached);
  });
  tunnels_.insert(session);
  auto started = std::chrono::steady_clock::now();
  spdlog::debug("tunnel opened user={} tunnels={}", user.name, tunnels_.size());
  co_await session->run();
  tunnels_.erase(session);
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
  const auto& c = session->counters();
  // The one info line per tunnel: who, how much, how long; never where to or from where.
  spdlog::info("tunnel closed user={} streams={} bytes_in={} bytes_out={} seconds={}", user.name, c.streams_opened,
               c.bytes_in, c.bytes_out, seconds);
}

asio::awaitable<void> Server::handle_stream(std::unique_ptr<mux::Stream> stream, Destination destination) {
  try {
    DialOptions options{config_.allow_private, config_.connect_timeout};
    auto socket = co_await dial(destination, options);
    if (!socket) {
      spdlog::debug("dial {} failed: {}", destination.to_string(), socket.error().message());
      stream->reset(reset_reason_for(socket.error()));
      co_return;
    }
    spdlog::debug("stream {} -> {}", stream->id(), destination.to_string());
    TcpStream upstream(std::move(*socket));
    co_await relay(*stream, upstream, config_.stream_idle_timeout);
  } catch (const std::exception& e) {
    spdlog::error("stream handler failed: {}", e.what());
  }
}

}  // namespace culvert
