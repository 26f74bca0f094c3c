#include "server/cover_site.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include "core/await.h"

namespace culvert {
namespace {

asio::awaitable<void> serve_connection(asio::ip::tcp::socket socket, CoverTimeouts timeouts) {
  using namespace asio::experimental::awaitable_operators;
  std::string buffer;
  char chunk[4096];
  asio::steady_timer timer(socket.get_executor());
  bool between_requests = false;
  for (;;) {
    // The first request has the header time limit; later ones wait under the keep-alive limit.
    timer.expires_after(between_requests && buffer.empty() ? timeouts.keep_alive : timeouts.header);
    for (;;) {
      auto answer = cover_respond(as_bytes(buffer));
      if (answer) {
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(answer->bytes), use_tuple);
        if (ec || !answer->keep_alive) {
          std::error_code ignored;
          socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
          socket.close(ignored);
          co_return;
        }
        buffer.erase(0, answer->consumed);
        break;
      }
      auto result = co_await (socket.async_read_some(asio::buffer(chunk), use_tuple) || timer.async_wait(use_tuple));
      if (result.index() == 1) co_return;  // timed out: close silently, as nginx does
      auto [ec, n] = std::get<0>(result);
      if (ec) co_return;
      buffer.append(chunk, n);
    }
    between_requests = true;
  }
}

}  // namespace

asio::awaitable<void> run_cover_site(asio::ip::tcp::acceptor& acceptor, CoverTimeouts timeouts) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) continue;
    asio::co_spawn(acceptor.get_executor(), serve_connection(std::move(socket), timeouts), asio::detached);
  }
}

}  // namespace culvert
