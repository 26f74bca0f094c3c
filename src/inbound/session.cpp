#include "inbound/session.h"

#include <spdlog/spdlog.h>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include "core/await.h"

#include "core/relay.h"
#include "core/tcp_stream.h"
#include "inbound/http/codec.h"
#include "inbound/socks5/codec.h"

namespace culvert {
namespace {

using namespace asio::experimental::awaitable_operators;

// Reads until `parse` stops asking for more (Errc::truncated), within the handshake deadline.
template <class Parse>
asio::awaitable<decltype(std::declval<Parse>()(ByteSpan{}))> read_message(TcpStream& in, Bytes& buffer, Parse parse,
                                                                          asio::steady_timer& deadline,
                                                                          std::size_t limit) {
  for (;;) {
    auto parsed = parse(ByteSpan(buffer));
    if (parsed || parsed.error() != Errc::truncated) co_return parsed;
    if (buffer.size() >= limit) co_return fail(Errc::too_large);
    std::uint8_t chunk[4096];
    auto r = co_await (in.read_some(asio::buffer(chunk)) || deadline.async_wait(use_tuple));
    if (r.index() == 1) co_return fail(Errc::timed_out);
    auto [ec, n] = std::get<0>(r);
    if (ec) co_return fail(ec);
    buffer.insert(buffer.end(), chunk, chunk + n);
  }
}

// Waits briefly for the application's first bytes after a CONNECT reply.
asio::awaitable<Bytes> read_first_data(TcpStream& in, std::chrono::milliseconds wait) {
  Bytes data(16 * 1024);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(wait);
  auto r = co_await (in.read_some(asio::buffer(data)) || timer.async_wait(use_tuple));
  if (r.index() == 1) co_return Bytes{};
  auto [ec, n] = std::get<0>(r);
  data.resize(ec ? 0 : n);
  co_return data;
}

asio::awaitable<std::error_code> write_text(TcpStream& out, std::string_view text) {
  co_return co_await out.write_all(asio::buffer(text.data(), text.size()));
}

// The relay may run for hours: it gets a coroutine of its own holding just the two streams, and the
// handshake's frames (buffers, parsers, the deadline timer) end now.
void relay_on_its_own(TcpStream& app, std::unique_ptr<ByteStream> stream, std::chrono::milliseconds idle) {
  auto executor = app.socket().get_executor();
  auto owned = std::make_unique<TcpStream>(std::move(app.socket()));
  spawn_relay(executor, std::move(owned), std::move(stream), idle);
}

asio::awaitable<void> serve_socks5(TcpStream& app, Bytes& buffer, const InboundHandlers& handlers,
                                   const InboundOptions& options, asio::steady_timer& deadline) {
  auto greeting = co_await read_message(app, buffer, socks5::parse_greeting, deadline, 512);
  if (!greeting) co_return;
  bool no_auth =
      std::find(greeting->methods.begin(), greeting->methods.end(), socks5::kMethodNoAuth) != greeting->methods.end();
  auto choice = socks5::encode_method_choice(no_auth ? socks5::kMethodNoAuth : socks5::kMethodNoneAcceptable);
  if (co_await app.write_all(asio::buffer(choice)) || !no_auth) co_return;
  buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(greeting->size));

  auto request = co_await read_message(app, buffer, socks5::parse_request, deadline, 512);
  if (!request) {
    if (request.error() == Errc::malformed || request.error() == Errc::unsupported) {
      auto reply = socks5::encode_reply(socks5::reply_for_error(buffer));
      co_await app.write_all(asio::buffer(reply));
    }
    co_return;
  }
  if (request->command == socks5::Command::udp_associate && handlers.associate) {
    deadline.cancel();
    co_await handlers.associate(app);
    co_return;
  }
  if (request->command != socks5::Command::connect) {
    auto reply = socks5::encode_reply(socks5::Reply::command_not_supported);
    co_await app.write_all(asio::buffer(reply));
    co_return;
  }
  if (handlers.allowed && !handlers.allowed(request->destination, "socks")) {
    auto reply = socks5::encode_reply(socks5::Reply::not_allowed);
    co_await app.write_all(asio::buffer(reply));
    co_return;
  }
  Bytes early(buffer.begin() + static_cast<std::ptrdiff_t>(request->size), buffer.end());
  // Reply before the server has dialed: the destination's answer (or reset) arrives in-band, and
  // the application's first bytes can travel with the OPEN frame (no extra round trip).
  auto ok = socks5::encode_reply(socks5::Reply::succeeded);
  if (co_await app.write_all(asio::buffer(ok))) co_return;
  if (early.empty()) early = co_await read_first_data(app, options.first_data_wait);
  auto stream = co_await handlers.open(request->destination, early, "socks");
  if (!stream) co_return;
  relay_on_its_own(app, std::move(*stream), options.idle_timeout);
}

// true: a request for the PAC file; Errc::truncated while the bytes could still become one.
Result<bool> is_pac_request(ByteSpan buffer) {
  constexpr std::string_view kPac = "GET /proxy.pac";
  std::string_view head(reinterpret_cast<const char*>(buffer.data()), buffer.size());
  if (head.size() <= kPac.size()) {
    if (kPac.starts_with(head)) return fail(Errc::truncated);
    return false;
  }
  return head.starts_with(kPac) && (head[kPac.size()] == ' ' || head[kPac.size()] == '?');
}

asio::awaitable<void> serve_pac(TcpStream& app, const InboundHandlers& handlers) {
  if (!handlers.pac) {
    std::string answer = http::simple_response(404, "Not Found");
    co_await write_text(app, answer);
    co_return;
  }
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ns-proxy-autoconfig\r\nContent-Length: " +
                     std::to_string(handlers.pac->size()) + "\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
  if (co_await write_text(app, head)) co_return;
  co_await write_text(app, *handlers.pac);
}

asio::awaitable<void> serve_http(TcpStream& app, Bytes& buffer, const InboundHandlers& handlers,
                                 const InboundOptions& options, asio::steady_timer& deadline) {
  // The proxy port also serves its PAC file (an origin-form request, which no proxy client sends).
  if (auto pac = co_await read_message(app, buffer, is_pac_request, deadline, 64); pac && *pac) {
    co_await serve_pac(app, handlers);
    co_return;
  }
  auto request = co_await read_message(app, buffer, http::parse_proxy_request, deadline, http::kMaxHead + 1);
  if (!request) {
    std::string answer;
    if (request.error() == Errc::malformed) answer = http::simple_response(400, "Bad Request");
    if (request.error() == Errc::too_large) answer = http::simple_response(431, "Request Header Fields Too Large");
    if (!answer.empty()) co_await write_text(app, answer);
    co_return;
  }
  if (handlers.allowed && !handlers.allowed(request->destination, "http")) {
    std::string answer = http::simple_response(403, "Forbidden");
    co_await write_text(app, answer);
    co_return;
  }
  Bytes rest(buffer.begin() + static_cast<std::ptrdiff_t>(request->head_size), buffer.end());
  Bytes first;
  if (request->is_connect) {
    if (co_await app.write_all(asio::buffer(http::kConnectEstablished.data(), http::kConnectEstablished.size())))
      co_return;
    // No co_await inside ?: (GCC 12 miscompiles it).
    if (rest.empty()) {
      first = co_await read_first_data(app, options.first_data_wait);
    } else {
      first = rest;
    }
  } else {
    first.assign(request->forward_head.begin(), request->forward_head.end());
    first.insert(first.end(), rest.begin(), rest.end());
  }
  auto stream = co_await handlers.open(request->destination, first, "http");
  if (!stream) {
    if (!request->is_connect) {
      std::string answer = http::simple_response(502, "Bad Gateway");
      co_await write_text(app, answer);
    }
    co_return;
  }
  relay_on_its_own(app, std::move(*stream), options.idle_timeout);
}

}  // namespace

asio::awaitable<void> serve_inbound(asio::ip::tcp::socket socket, std::shared_ptr<const InboundHandlers> handlers,
                                    InboundOptions options) {
  try {
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    TcpStream app(std::move(socket));
    asio::steady_timer deadline(co_await asio::this_coro::executor);
    deadline.expires_after(options.handshake_timeout);
    Bytes buffer(4096);
    auto r = co_await (app.read_some(asio::buffer(buffer)) || deadline.async_wait(use_tuple));
    if (r.index() == 1) co_return;
    auto [ec, n] = std::get<0>(r);
    if (ec) co_return;
    buffer.resize(n);
    if (buffer[0] == socks5::kVersion) {
      co_await serve_socks5(app, buffer, *handlers, options, deadline);
    } else if (buffer[0] >= 'A' && buffer[0] <= 'Z') {
      co_await serve_http(app, buffer, *handlers, options, deadline);
    }
    // Anything else (SOCKS4, TLS straight to the proxy port, noise): close.
  } catch (const std::exception& e) {
    spdlog::error("inbound session failed: {}", e.what());
  }
}

}  // namespace culvert
