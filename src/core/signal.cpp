#include "core/signal.h"
#include "core/await.h"

#include <asio/experimental/awaitable_operators.hpp>

namespace culvert {

asio::awaitable<bool> Signal::wait_for(std::chrono::steady_clock::duration limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(timer_.get_executor());
  deadline.expires_after(limit);
  auto result = co_await (wait() || deadline.async_wait(use_tuple));
  co_return result.index() == 0;
}

}  // namespace culvert
