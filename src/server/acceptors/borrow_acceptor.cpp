#include "server/acceptors/borrow_acceptor.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>

#include "core/await.h"
#include "core/congestion.h"
#include "core/dialer.h"
#include "core/mirror_relay.h"
#include "core/tcp_stream.h"
#include "crypto/crypto.h"
#include "server/server.h"
#include "transport/tls/auth.h"
#include "transport/tls/certificate.h"

namespace culvert {

BorrowAcceptor::BorrowAcceptor(Server& server) : TransportAcceptor(server), ticket_timer_(server.io()) {}

void BorrowAcceptor::stop() {
  stopped_ = true;
  ticket_timer_.cancel();
}

Result<void> BorrowAcceptor::start(std::string& message) {
  const auto& config = server_.config();
  split_host_port(config.target, target_host_, target_port_);
  auto key = crypto::read_x25519_private_key(config.path(config.static_key));
  if (!key) {
    message = "cannot read the static key " + config.path(config.static_key);
    return fail(Errc::bad_config);
  }
  gate_ = std::make_unique<BorrowGate>(*key, std::chrono::seconds(120));
  OPENSSL_cleanse(key->data(), key->size());
  // The certificate an authenticated client receives (encrypted; only its size shows, padded to
  // the target's flight). Clients authenticate the server through the key schedule, not this.
  auto credentials = tls::load_server_credentials(config.path(config.certificate), config.path(config.key));
  if (!credentials) {
    message = "cannot load certificate " + config.path(config.certificate) + " / key " + config.path(config.key);
    return fail(credentials.error());
  }
  credentials_ = std::move(*credentials);
  asio::co_spawn(server_.io(), watch_target_tickets(), asio::detached);
  return {};
}

asio::awaitable<void> BorrowAcceptor::watch_target_tickets() {
  const auto& config = server_.config();
  // The target's session tickets follow the client's Finished; a handshake aborted after the
  // server's flight never sees them, so learn their shape from a full handshake now and then.
  while (!stopped_) {
    auto tickets =
        co_await observe_target_tickets(target_host_, target_port_, config.sni, std::chrono::milliseconds(500));
    if (stopped_) co_return;
    if (!tickets.empty() && tickets != target_ticket_records_) {
      std::string sizes;
      for (auto n : tickets) sizes += (sizes.empty() ? "" : ",") + std::to_string(n);
      spdlog::info("borrowed target sends {} session ticket record(s): {} bytes", tickets.size(), sizes);
      target_ticket_records_ = std::move(tickets);
    }
    ticket_timer_.expires_after(target_ticket_records_.empty() ? std::chrono::seconds(30) : std::chrono::minutes(10));
    co_await ticket_timer_.async_wait(use_tuple);
  }
}

asio::awaitable<void> BorrowAcceptor::handle(asio::ip::tcp::socket socket) {
  const auto& config = server_.config();
  auto& metrics = server_.metrics();
  using namespace asio::experimental::awaitable_operators;
  try {
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    // Connect to the target first: a silent peer meets the target's own timers, as it would if
    // it had connected to the target directly.
    Destination target{Destination::Kind::domain, target_host_, target_port_};
    DialOptions dial_options{true, config.connect_timeout, {}};
    auto target_socket = co_await dial(target, dial_options);
    if (!target_socket) {
      spdlog::warn("borrowed target unreachable: {}", target_socket.error().message());
      co_return;
    }
    asio::steady_timer deadline(server_.io());
    deadline.expires_after(config.handshake_timeout);
    // What was read stays in `hello` even if the deadline cuts the read short. If the target
    // closes (or speaks) first, e.g. its own handshake timer for a silent peer fired, stop at once:
    // the peer must see that close when it would have seen it from the target itself.
    ReadHello hello;
    co_await (read_client_hello(socket, hello) || deadline.async_wait(use_tuple) ||
              target_socket->async_wait(asio::ip::tcp::socket::wait_read, use_tuple));
    std::optional<BorrowDecision> user;
    if (!hello.message.empty()) user = gate_->check(hello.message, server_.store());
    if (!user) {
      // Anyone else talks to the real site, starting with every byte they already sent, and
      // meets its endings as they are (a reset as a reset).
      ++metrics.auth_failures_total;
      ++metrics.cover_relays_total;
      if (!hello.raw.empty()) {
        auto [wec, written] = co_await asio::async_write(*target_socket, asio::buffer(hello.raw), use_tuple);
        if (wec) {
          close_with_reset(socket);
          co_return;
        }
      }
      if (hello.peer_reset) {
        close_with_reset(*target_socket);
        co_return;
      }
      if (hello.peer_closed) target_socket->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      co_await mirror_relay(socket, *target_socket, config.stream_idle_timeout);
      co_return;
    }
    // A user: learn how the target answers this very ClientHello, then answer in that shape.
    ByteSpan hello_records(hello.raw.data(), hello.used);
    auto shape = co_await observe_target_flight(*target_socket, hello_records, std::chrono::milliseconds(50),
                                                std::chrono::milliseconds(5000));
    target_socket->close(ignored);
    if (!shape) {
      spdlog::warn("cannot read the borrowed target's handshake: {}", shape.error().message());
      co_return;
    }
    shape->ticket_records = target_ticket_records_;
    int fd = socket.native_handle();  // stays open as long as the stream that takes the socket
    limit_unsent(fd, kTunnelUnsentLimit);
    auto tls = std::make_unique<tls13::ServerStream>(std::move(socket));
    ByteSpan rest(hello.raw.data() + hello.used, hello.raw.size() - hello.used);
    deadline.expires_after(config.handshake_timeout);
    auto hs = co_await (tls->handshake(hello.message, rest, *shape, credentials_, user->extra_secret) ||
                        deadline.async_wait(use_tuple));
    if (hs.index() == 1 || std::get<0>(hs)) co_return;
    // Then the same preamble as the tls transport, bound to this session's exporter.
    std::vector<std::uint8_t> first(16 * 1024 + 256);  // one full TLS record
    auto [ec, n] = co_await tls->read_some(asio::buffer(first));
    if (ec) co_return;
    ByteSpan record(first.data(), n);
    auto exporter = tls->export_key(tls::kExporterLabel);
    if (!exporter || n < tls::kPreambleSize) co_return;
    // The gate already found the user: check the preamble against them, not the store again.
    auto preamble = tls::parse_preamble(record);
    if (!preamble || preamble->version != mux::kVersion || preamble->key_id != user->user.credential.key_id ||
        !tls::verify_preamble(*preamble, user->user.credential.secret, *exporter) || !server_.admit(user->user))
      co_return;
    co_await server_.run_tunnel(std::move(tls), record.subspan(tls::kPreambleSize), user->user, fd);
  } catch (const std::exception& e) {
    spdlog::error("connection handler failed: {}", e.what());
  }
}

}  // namespace culvert
