#include "core/mirror_relay.h"

#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <memory>
#include <vector>

#include "core/await.h"
#include "core/signal.h"

namespace culvert {
namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  explicit Shared(const asio::any_io_executor& executor) : timer(executor), done(executor) {}
  asio::steady_timer timer;
  Signal done;
  Clock::time_point last = Clock::now();
  int running = 2;
  bool reset = false;  // one side reset: the other is reset too
};

bool is_reset(const std::error_code& ec) {
  return ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

asio::awaitable<void> direction(std::shared_ptr<Shared> shared, asio::ip::tcp::socket& from,
                                asio::ip::tcp::socket& to) {
  // Large enough that what arrived together leaves together (a target meets a probe whole).
  std::vector<std::uint8_t> buffer(64 * 1024);
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer), use_tuple);
    if (n > 0) {
      shared->last = Clock::now();
      auto [wec, written] = co_await asio::async_write(to, asio::buffer(buffer.data(), n), use_tuple);
      if (wec) {
        // The destination is gone (it reset us): the source meets a reset as it would have.
        if (is_reset(wec)) {
          shared->reset = true;
          close_with_reset(from);
        }
        break;
      }
    }
    if (ec == asio::error::eof) {
      std::error_code ignored;
      to.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      break;
    }
    if (ec) {
      if (is_reset(ec)) {
        shared->reset = true;
        close_with_reset(to);
      }
      break;
    }
  }
  if (--shared->running == 0) {
    shared->timer.cancel();
    shared->done.notify();
  }
}

void arm(std::shared_ptr<Shared> shared, asio::ip::tcp::socket& a, asio::ip::tcp::socket& b, Clock::duration idle) {
  shared->timer.expires_at(shared->last + idle);
  shared->timer.async_wait([weak = std::weak_ptr<Shared>(shared), &a, &b, idle](const std::error_code& ec) {
    auto s = weak.lock();
    if (ec || !s || s->running == 0) return;
    if (Clock::now() >= s->last + idle) {
      std::error_code ignored;
      a.close(ignored);
      b.close(ignored);
      return;
    }
    arm(s, a, b, idle);
  });
}

}  // namespace

void close_with_reset(asio::ip::tcp::socket& socket) {
  std::error_code ignored;
  if (!socket.is_open()) return;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

asio::awaitable<void> mirror_relay(asio::ip::tcp::socket& client, asio::ip::tcp::socket& upstream,
                                   Clock::duration idle) {
  auto executor = client.get_executor();
  auto shared = std::make_shared<Shared>(executor);
  arm(shared, client, upstream, idle);
  asio::co_spawn(executor, direction(shared, upstream, client), asio::detached);
  co_await direction(shared, client, upstream);
  while (shared->running > 0) co_await shared->done.wait();
  std::error_code ignored;
  client.close(ignored);
  upstream.close(ignored);
}

}  // namespace culvert
