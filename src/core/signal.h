// Signal: a level-triggered wake-up for coroutines on one single-threaded executor.
// A waiter re-checks its condition after every wake-up, so notify() before wait() is never lost:
// with one thread nothing can change between the waiter's check and its co_await.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include "core/await.h"

namespace culvert {

class Signal {
 public:
  explicit Signal(const asio::any_io_executor& executor) : timer_(executor) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }

  // Returns the timer's own awaitable (no coroutine frame of ours per waiter: thousands of idle
  // streams each have a waiter). The value is meaningless.
  asio::awaitable<std::tuple<std::error_code>> wait() { return timer_.async_wait(use_tuple); }
  // Like wait(), but gives up after `limit`. Returns false on time-out.
  asio::awaitable<bool> wait_for(std::chrono::steady_clock::duration limit);

  void notify() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

}  // namespace culvert
