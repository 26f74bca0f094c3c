#include "core/relay.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <memory>
#include <optional>

#include "core/await.h"
#include "core/buffer_pool.h"
#include "core/signal.h"

namespace culvert {
namespace {

using Clock = std::chrono::steady_clock;

// What both directions of one relay share. Each direction is one spawned coroutine holding a
// shared_ptr to it; the idle timer is a plain callback. That is all an idle proxied stream costs:
// no watcher coroutine, no awaitable-operator state, no buffer (see PooledBuffer).
struct RelayCore {
  RelayCore(const asio::any_io_executor& executor, ByteStream& first, ByteStream& second, Clock::duration idle_limit)
      : a(&first), b(&second), idle(idle_limit), timer(executor) {}
  ByteStream* a;
  ByteStream* b;
  ByteStreamPtr owned_a, owned_b;  // spawn_relay: the streams live (and close) with the relay
  Clock::duration idle;
  Clock::time_point last_activity = Clock::now();
  asio::steady_timer timer;
  int running = 2;
  RelayStats stats;
  std::optional<Signal> done;  // relay(): wakes the awaiting caller
};

void arm_idle_timer(const std::shared_ptr<RelayCore>& core) {
  core->timer.expires_at(core->last_activity + core->idle);
  core->timer.async_wait([weak = std::weak_ptr<RelayCore>(core)](const std::error_code& ec) {
    auto core = weak.lock();
    if (ec || !core || core->running == 0) return;
    if (Clock::now() >= core->last_activity + core->idle) {
      core->a->close();  // both directions end with an error
      core->b->close();
      return;
    }
    arm_idle_timer(core);
  });
}

// One direction: copies until end of stream (half-closing the destination) or an error (resetting
// the destination: a failure upstream must not look like a complete answer downstream).
asio::awaitable<void> direction(std::shared_ptr<RelayCore> core, bool a_to_b) {
  ByteStream& from = a_to_b ? *core->a : *core->b;
  ByteStream& to = a_to_b ? *core->b : *core->a;
  std::uint64_t& total = a_to_b ? core->stats.a_to_b : core->stats.b_to_a;
  for (bool ended = false; !ended;) {
    while (!from.readable_now()) co_await from.wait_readable();
    // Bytes the source already holds (a mux stream's queue) are written from where they are.
    if (auto held = from.buffered(); !held.empty()) {
      core->last_activity = Clock::now();
      if (co_await to.write_all(asio::buffer(held.data(), held.size()))) {
        from.reset();
        break;
      }
      from.consume_buffered(held.size());
      total += held.size();
      continue;
    }
    // A buffer only while bytes flow: keep reading while reads fill it, give it back when they do not.
    PooledBuffer buffer;
    for (;;) {
      auto [ec, n] = co_await from.read_some(asio::buffer(buffer.span().data(), buffer.span().size()));
      if (n > 0) {
        core->last_activity = Clock::now();
        if (co_await to.write_all(asio::buffer(buffer.span().data(), n))) {
          from.reset();
          ended = true;
          break;
        }
        total += n;
      }
      if (ec == asio::error::eof) {
        co_await to.shutdown_send();
        ended = true;
        break;
      }
      if (ec) {
        to.reset();
        ended = true;
        break;
      }
      if (n < PooledBuffer::kSize) break;
    }
  }
  if (--core->running == 0) {
    core->timer.cancel();
    core->a->close();
    core->b->close();
    if (core->done) core->done->notify();
  }
}

std::shared_ptr<RelayCore> start(const asio::any_io_executor& executor, ByteStream& a, ByteStream& b,
                                 Clock::duration idle) {
  auto core = std::make_shared<RelayCore>(executor, a, b, idle);
  arm_idle_timer(core);
  return core;
}

}  // namespace

asio::awaitable<RelayStats> relay(ByteStream& a, ByteStream& b, Clock::duration idle) {
  auto executor = co_await asio::this_coro::executor;
  auto core = start(executor, a, b, idle);
  core->done.emplace(executor);
  asio::co_spawn(executor, direction(core, false), asio::detached);
  co_await direction(core, true);
  while (core->running > 0) co_await core->done->wait();
  co_return core->stats;
}

void spawn_relay(const asio::any_io_executor& executor, ByteStreamPtr a, ByteStreamPtr b, Clock::duration idle) {
  auto core = start(executor, *a, *b, idle);
  core->owned_a = std::move(a);
  core->owned_b = std::move(b);
  asio::co_spawn(executor, direction(core, true), asio::detached);
  asio::co_spawn(executor, direction(core, false), asio::detached);
}

}  // namespace culvert
