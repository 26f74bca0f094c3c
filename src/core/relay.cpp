#include "core/relay.h"
#include "core/await.h"
#include "core/buffer_pool.h"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <vector>

#include <asio/error.hpp>

namespace culvert {
namespace {

asio::awaitable<void> idle_watch(std::chrono::steady_clock::time_point& last_activity,
                                 std::chrono::steady_clock::duration idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_at(last_activity + idle);
    co_await timer.async_wait(use_tuple);
    if (std::chrono::steady_clock::now() >= last_activity + idle) co_return;
  }
}

}  // namespace

asio::awaitable<std::uint64_t> pump(ByteStream& from, ByteStream& to,
                                    std::chrono::steady_clock::time_point& last_activity) {
  std::uint64_t total = 0;
  for (;;) {
    co_await from.wait_readable();
    // A buffer only while bytes flow: keep reading while reads fill it, give it back when they do not.
    PooledBuffer buffer;
    for (;;) {
      auto [ec, n] = co_await from.read_some(asio::buffer(buffer.span().data(), buffer.span().size()));
      if (n > 0) {
        last_activity = std::chrono::steady_clock::now();
        if (co_await to.write_all(asio::buffer(buffer.span().data(), n))) {
          from.close();
          co_return total;
        }
        total += n;
      }
      if (ec == asio::error::eof) {
        co_await to.shutdown_send();
        co_return total;
      }
      if (ec) {
        to.close();
        co_return total;
      }
      if (n < PooledBuffer::kSize) break;
    }
  }
}

asio::awaitable<RelayStats> relay(ByteStream& a, ByteStream& b, std::chrono::steady_clock::duration idle) {
  using namespace asio::experimental::awaitable_operators;
  auto last_activity = std::chrono::steady_clock::now();
  RelayStats stats;
  auto result = co_await ((pump(a, b, last_activity) && pump(b, a, last_activity)) || idle_watch(last_activity, idle));
  if (result.index() == 0) {
    auto [up, down] = std::get<0>(result);
    stats.a_to_b = up;
    stats.b_to_a = down;
  }
  a.close();
  b.close();
  co_return stats;
}

}  // namespace culvert
