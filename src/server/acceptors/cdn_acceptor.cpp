#include "server/acceptors/cdn_acceptor.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include "cover/conn.h"
#include "cover/http1.h"
#include "crypto/crypto.h"
#include "server/server.h"
#include "transport/tls/auth.h"

namespace culvert {
namespace {

asio::awaitable<void> run_user_tunnel(Server& server, ByteStreamPtr stream, User user) {
  co_await server.run_tunnel(std::move(stream), {}, user);
}

}  // namespace

Result<void> CdnAcceptor::load_certificate(std::string& message) {
  const auto& config = server_.config();
  // Reverse proxies speak HTTP/1.1 to their origins; the cover's h2 is not offered here.
  tls::ServerTlsOptions options{config.path(config.certificate), config.path(config.key), {"http/1.1"}};
  auto ctx = tls::make_server_context(options);
  if (!ctx) {
    message = "cannot load certificate " + options.certificate_file + " / key " + options.key_file;
    return fail(ctx.error());
  }
  if (tls_.ctx) retired_tls_.push_back(std::move(tls_));
  if (retired_tls_.size() > 4) retired_tls_.erase(retired_tls_.begin());
  tls_ = std::move(*ctx);
  return {};
}

Result<void> CdnAcceptor::start(std::string& message) {
  const auto& config = server_.config();
  if (config.cdn.origin_tls) {
    if (auto loaded = load_certificate(message); !loaded) return loaded;
  }
  auto key = crypto::read_x25519_private_key(config.path(config.static_key));
  if (!key) {
    message = "cannot read the static key " + config.path(config.static_key);
    return fail(Errc::bad_config);
  }
  auto authenticate = [this](
                          ByteSpan preamble,
                          const std::array<std::uint8_t, 32>& binding) -> std::optional<cdn::SessionGate::StartTunnel> {
    auto user = server_.authenticate(preamble, binding);
    if (!user || !server_.admit(*user)) {
      ++server_.metrics().auth_failures_total;
      return std::nullopt;
    }
    return [this, user = *user](ByteStreamPtr stream) {
      // run_tunnel takes the user by reference: the spawned frame below owns the copy it refers to.
      asio::co_spawn(server_.io(), run_user_tunnel(server_, std::move(stream), user), asio::detached);
    };
  };
  gate_ = std::make_unique<cdn::SessionGate>(server_.io().get_executor(), *key, config.cdn.path, authenticate);
  OPENSSL_cleanse(key->data(), key->size());
  return {};
}

Result<void> CdnAcceptor::reload(std::string& message) {
  if (server_.config().cdn.origin_tls) return load_certificate(message);
  return {};
}

void CdnAcceptor::stop() {
  if (gate_) gate_->stop();
}

asio::awaitable<void> CdnAcceptor::handle(asio::ip::tcp::socket socket) {
  try {
    const auto& config = server_.config();
    auto& metrics = server_.metrics();
    auto header_deadline = cover::Clock::now() + config.handshake_timeout;
    cover::Conn conn(std::move(socket));
    cover::Http1Options options;
    options.header_deadline = header_deadline;
    options.claims = {gate_->claim(), server_.subscription_claim()};
    if (config.cdn.origin_tls) {
      int first = co_await conn.peek_first_byte(header_deadline);
      if (first < 0) {
        conn.close(true);
        co_return;
      }
      if (first != 0x16 && !(first & 0x80)) {
        options.plain_on_tls_port = true;
        co_await cover::serve_http1(conn, options);
        co_return;
      }
      std::error_code ignored;
      conn.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
      SSL* ssl = tls::new_server_ssl(tls_);
      if (!ssl || !co_await conn.handshake(ssl, header_deadline)) {
        ++metrics.handshake_failures_total;
        conn.close(true);
        co_return;
      }
    } else {
      std::error_code ignored;
      conn.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    co_await cover::serve_http1(conn, options);
  } catch (const std::exception& e) {
    spdlog::error("connection handler failed: {}", e.what());
  }
}

}  // namespace culvert
