#include "server/borrow.h"

#include <spdlog/spdlog.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "core/await.h"
#include "core/dialer.h"
#include "tls13/client_stream.h"

#include <asio/this_coro.hpp>
#include "tls13/client_hello.h"
#include "tls13/messages.h"

namespace culvert {
namespace {

constexpr std::size_t kMaxHelloBytes = 64 * 1024;

}  // namespace

bool could_start_client_hello(ByteSpan prefix) {
  // Record header: handshake (22), version 3.x (x <= 4), a length a ClientHello can have; then
  // the handshake header: type client_hello (1).
  if (prefix.size() > 0 && prefix[0] != 22) return false;
  if (prefix.size() > 1 && prefix[1] != 3) return false;
  if (prefix.size() > 2 && prefix[2] > 4) return false;
  if (prefix.size() > 4) {
    std::size_t length = (prefix[3] << 8) | prefix[4];
    if (length == 0 || length > 16384) return false;
  }
  if (prefix.size() > 5 && prefix[5] != tls13::msg::kClientHello) return false;
  return true;
}

asio::awaitable<void> read_client_hello(asio::ip::tcp::socket& socket, ReadHello& out) {
  Bytes message;
  std::size_t pos = 0;  // start of the next unparsed record in out.raw
  // Whatever the peer sent is taken in one read and written to the target in one write, so the
  // target meets it as it would directly (a 17 KiB probe arrives whole: it must not be cut).
  std::vector<std::uint8_t> buf(kMaxHelloBytes);
  for (;;) {
    // As soon as the bytes can no longer be a ClientHello, stop: they go to the target at once.
    if (!could_start_client_hello(out.raw)) co_return;
    // Parse whole records so far.
    while (out.raw.size() - pos >= 5) {
      const std::uint8_t* h = out.raw.data() + pos;
      std::size_t length = (h[3] << 8) | h[4];
      if (h[0] != 22 || h[1] != 3 || length == 0 || length > 16384) co_return;  // not a ClientHello
      if (out.raw.size() - pos < 5 + length) break;
      message.insert(message.end(), h + 5, h + 5 + length);
      pos += 5 + length;
      if (message.size() >= 4) {
        std::size_t need = 4 + ((message[1] << 16) | (message[2] << 8) | message[3]);
        if (message[0] != tls13::msg::kClientHello || need > kMaxHelloBytes) co_return;
        if (message.size() >= need) {
          if (message.size() > need) co_return;  // more than one message: no browser does that
          out.used = pos;
          out.message = std::move(message);
          co_return;
        }
      }
    }
    if (out.raw.size() > kMaxHelloBytes) co_return;
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
    out.raw.insert(out.raw.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    if (ec) {
      out.peer_closed = true;
      out.peer_reset = ec == asio::error::connection_reset;
      co_return;
    }
  }
}

BorrowGate::BorrowGate(std::array<std::uint8_t, 32> static_private_key, std::chrono::seconds window)
    : static_key_(tls13::KeyShare::from_x25519_private(static_private_key).value()), window_(window) {}

std::optional<BorrowDecision> BorrowGate::check(ByteSpan hello_message, UserStore& store, tls13::HelloCarrier carrier) {
  auto info = tls13::parse_client_hello(hello_message.subspan(4));
  const std::size_t session_id = carrier == tls13::HelloCarrier::session_id ? 32 : 0;
  if (!info || !info->offers_tls13 || info->session_id.size() != session_id) return std::nullopt;
  auto share = std::find_if(info->key_shares.begin(), info->key_shares.end(),
                            [](const auto& s) { return s.first == tls13::group::kX25519; });
  if (share == info->key_shares.end()) return std::nullopt;
  auto shared = static_key_.agree(share->second);
  if (!shared) return std::nullopt;
  auto claim = tls13::open_borrow_claim(hello_message, *shared, carrier);
  auto found = store.find_active(claim.key_id, unix_now());
  if (!found) {
    spdlog::error("user store lookup failed: {}", found.error().message());
    return std::nullopt;
  }
  static const std::array<std::uint8_t, 32> kDummySecret{};
  auto extra =
      tls13::verify_borrow_tag(hello_message, *shared, *found ? (*found)->credential.secret : kDummySecret, carrier);
  if (!extra || !*found) return std::nullopt;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  auto age = now.count() - static_cast<std::int64_t>(claim.unix_seconds);
  if (age > window_.count() || age < -window_.count()) return std::nullopt;
  // The tag covers the whole hello, so it names this hello: a second sighting is a replay.
  const std::size_t carried =
      carrier == tls13::HelloCarrier::session_id ? tls13::kSessionIdOffset : tls13::kRandomOffset;
  if (!replays_.first_sighting(hello_message.subspan(carried + 12, 20))) return std::nullopt;
  return BorrowDecision{**found, std::move(*extra)};
}

asio::awaitable<Result<tls13::FlightShape>> observe_target_flight(asio::ip::tcp::socket& target, ByteSpan hello_records,
                                                                  std::chrono::milliseconds quiet,
                                                                  std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  auto [wec, written] =
      co_await asio::async_write(target, asio::buffer(hello_records.data(), hello_records.size()), use_tuple);
  if (wec) co_return fail(wec);
  auto deadline = std::chrono::steady_clock::now() + limit;
  Bytes got;
  std::uint8_t buf[16 * 1024];
  asio::steady_timer timer(target.get_executor());
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    // Before the first byte, wait up to the limit; after it, only for the quiet period.
    timer.expires_at(got.empty() ? deadline : std::min(deadline, now + quiet));
    auto result = co_await (target.async_read_some(asio::buffer(buf), use_tuple) || timer.async_wait(use_tuple));
    if (result.index() == 1) break;
    auto [ec, n] = std::get<0>(result);
    got.insert(got.end(), buf, buf + n);
    if (ec) break;
  }
  co_return tls13::parse_flight_shape(got);
}

asio::awaitable<std::vector<std::size_t>> observe_target_tickets(const std::string& host, std::uint16_t port,
                                                                 const std::string& sni,
                                                                 std::chrono::milliseconds wait) {
  using namespace asio::experimental::awaitable_operators;
  Destination target{Destination::Kind::domain, host, port};
  DialOptions options{true, std::chrono::milliseconds(10000), {}};
  auto socket = co_await dial(target, options);
  if (!socket) co_return std::vector<std::size_t>{};
  tls13::ClientConfig config;
  config.server_name = sni;
  config.accept_any_certificate = true;
  tls13::ClientStream client(std::move(*socket), config);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(10000));
  auto hs = co_await (client.handshake() || timer.async_wait(use_tuple));
  if (hs.index() == 1 || std::get<0>(hs)) co_return std::vector<std::size_t>{};
  // Tickets are handled inside read_some; wait for them with nothing sent, then look.
  timer.expires_after(wait);
  std::uint8_t buf[4096];
  co_await (client.read_some(asio::buffer(buf)) || timer.async_wait(use_tuple));
  std::vector<std::size_t> out = client.ticket_records();
  client.close();
  co_return out;
}

}  // namespace culvert
