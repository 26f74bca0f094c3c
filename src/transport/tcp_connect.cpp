#include "transport/tcp_connect.h"

#include <asio/connect.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include "core/await.h"
#include "core/congestion.h"

namespace culvert {

asio::awaitable<Result<asio::ip::tcp::socket>> connect_to_server(const std::string& host, std::uint16_t port,
                                                                 std::chrono::steady_clock::time_point deadline,
                                                                 std::string& why) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, deadline);
  asio::ip::tcp::resolver resolver(executor);
  auto resolved =
      co_await (resolver.async_resolve(host, std::to_string(port), use_tuple) || timer.async_wait(use_tuple));
  if (resolved.index() == 1) {
    why = "looking up its name timed out";
    co_return fail(Errc::timed_out);
  }
  auto [rec, results] = std::get<0>(resolved);
  if (rec) {
    why = "cannot resolve its name (" + rec.message() + ")";
    co_return fail(Errc::dial_failed);
  }
  asio::ip::tcp::socket socket(executor);
  auto connected = co_await (asio::async_connect(socket, results, use_tuple) || timer.async_wait(use_tuple));
  if (connected.index() == 1) {
    why = "connecting timed out";
    co_return fail(Errc::timed_out);
  }
  if (auto cec = std::get<0>(std::get<0>(connected))) {
    why = "cannot connect (" + cec.message() + ")";
    co_return fail(Errc::dial_failed);
  }
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  limit_unsent(socket.native_handle(), kTunnelUnsentLimit);
  co_return socket;
}

}  // namespace culvert
