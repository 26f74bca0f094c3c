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
  // The route is decided and made ready before the reply, so a failure can be told in SOCKS5's
  // own terms; a ready tunnel costs no round trip here.
  auto route = co_await handlers.prepare(request->destination, "socks");
  if (!route) {
    auto reply = socks5::encode_reply(static_cast<socks5::Reply>(failure_answer(route.error()).socks_reply));
    co_await app.write_all(asio::buffer(reply));
    co_return;
  }
  Bytes early(buffer.begin() + static_cast<std::ptrdiff_t>(request->size), buffer.end());
  // Reply before the server has dialed: the destination's answer (or reset) arrives in-band, and
  // the application's first bytes can travel with the OPEN frame (no extra round trip).
  auto ok = socks5::encode_reply(socks5::Reply::succeeded);
  if (co_await app.write_all(asio::buffer(ok))) co_return;
  if (early.empty()) early = co_await read_first_data(app, options.first_data_wait);
  auto stream = co_await (*route)->open(std::move(early));
  if (!stream) {
    app.reset();  // too late for a reply code: the application sees a failed connection
    co_return;
  }
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
  auto route = co_await handlers.prepare(request->destination, "http");
  if (!route) {
    auto why = failure_answer(route.error());
    std::string answer =
        http::simple_response(why.http_status, why.http_reason,
                              "Culvert: " + std::string(why.why) + " (" + request->destination.to_string() + ")");
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
      first = std::move(rest);
    }
  } else {
    first.assign(request->forward_head.begin(), request->forward_head.end());
    first.insert(first.end(), rest.begin(), rest.end());
  }
  auto stream = co_await (*route)->open(std::move(first));
  if (!stream) {
    if (request->is_connect) {
      app.reset();
    } else {
      auto why = failure_answer(stream.error());
      std::string answer =
          http::simple_response(why.http_status, why.http_reason,
                                "Culvert: " + std::string(why.why) + " (" + request->destination.to_string() + ")");
      co_await write_text(app, answer);
    }
    co_return;
  }
  // A plain request whose whole body is sent: wait for the answer's first bytes, so that a
  // destination the server could not reach gets an error page naming why instead of a reset.
  bool whole = !request->is_connect && request->body_length >= 0 &&
               rest.size() >= static_cast<std::size_t>(request->body_length);
  if (whole) {
    Bytes answer(16 * 1024);
    auto [ec, n] = co_await (*stream)->read_some(asio::buffer(answer));
    if (n == 0 && ec) {
      auto why = failure_answer(ec);
      std::string page =
          http::simple_response(why.http_status, why.http_reason,
                                "Culvert: " + std::string(why.why) + " (" + request->destination.to_string() + ")");
      co_await write_text(app, page);
      co_return;
    }
    if (n > 0 && co_await app.write_all(asio::buffer(answer.data(), n))) co_return;
    if (ec) {
      // The answer was cut short: pass the failure on.
      if (ec == asio::error::eof) {
        co_await app.shutdown_send();
      } else {
        app.reset();
      }
      co_return;
    }
  }
  relay_on_its_own(app, std::move(*stream), options.idle_timeout);
}

}  // namespace

FailureAnswer failure_answer(std::error_code ec) {
  using R = socks5::Reply;
  auto socks = [](R r) { return static_cast<std::uint8_t>(r); };
  if (ec == Errc::destination_refused)
    return {socks(R::not_allowed), 403, "Forbidden",
            "the destination is refused (a rule blocks it, or the server does not let users reach private addresses)"};
  if (ec == Errc::timed_out || ec == asio::error::timed_out)
    return {socks(R::host_unreachable), 504, "Gateway Timeout", "the connection to the destination timed out"};
  if (ec == asio::error::connection_refused)
    return {socks(R::connection_refused), 502, "Bad Gateway", "the destination refused the connection"};
  if (ec == Errc::dial_failed || ec == asio::error::host_not_found || ec == asio::error::host_unreachable ||
      ec == asio::error::network_unreachable)
    return {socks(R::host_unreachable), 502, "Bad Gateway",
            "the destination could not be reached (no such name, no route, or the connection was refused)"};
  if (ec == Errc::auth_failed)
    return {socks(R::general_failure), 502, "Bad Gateway",
            "the Culvert server did not accept this link (revoked, expired, over quota, or a wrong key)"};
  if (ec == Errc::tunnel_closed || ec == Errc::tls_failed || ec == Errc::pin_mismatch)
    return {socks(R::network_unreachable), 502, "Bad Gateway", "the Culvert server cannot be reached"};
  return {socks(R::general_failure), 502, "Bad Gateway", "the connection failed"};
}

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
