// MemoryPipe: two connected in-memory ByteStreams, for session tests without sockets.
// Each direction is an unbounded byte queue; close() on either end fails both.
// Single-threaded: both ends must run on the same io_context.
#pragma once

#include <asio/error.hpp>
#include <cstring>
#include <memory>
#include <utility>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/signal.h"

namespace culvert::fakes {

struct PipeState {
  explicit PipeState(const asio::any_io_executor& ex) : readable{Signal(ex), Signal(ex)} {}
  Bytes queue[2];
  bool eof[2] = {false, false};
  bool closed = false;
  Signal readable[2];
};

class PipeEnd final : public ByteStream {
 public:
  PipeEnd(std::shared_ptr<PipeState> state, int side) : state_(std::move(state)), side_(side) {}

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override {
    auto& q = state_->queue[side_];
    for (;;) {
      if (state_->closed) co_return IoResult{asio::error::connection_reset, 0};
      if (!q.empty()) {
        std::size_t n = std::min(q.size(), buffer.size());
        std::memcpy(buffer.data(), q.data(), n);
        q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
        co_return IoResult{{}, n};
      }
      if (state_->eof[side_]) co_return IoResult{asio::error::eof, 0};
      co_await state_->readable[side_].wait();
    }
  }
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override {
    if (state_->closed || state_->eof[1 - side_]) co_return asio::error::broken_pipe;
    auto* p = static_cast<const std::uint8_t*>(buffer.data());
    state_->queue[1 - side_].insert(state_->queue[1 - side_].end(), p, p + buffer.size());
    state_->readable[1 - side_].notify();
    co_return std::error_code{};
  }
  asio::awaitable<void> shutdown_send() override {
    state_->eof[1 - side_] = true;
    state_->readable[1 - side_].notify();
    co_return;
  }
  void close() override {
    state_->closed = true;
    state_->readable[0].notify();
    state_->readable[1].notify();
  }

 private:
  std::shared_ptr<PipeState> state_;
  int side_;
};

inline std::pair<std::unique_ptr<PipeEnd>, std::unique_ptr<PipeEnd>> make_pipe(const asio::any_io_executor& ex) {
  auto state = std::make_shared<PipeState>(ex);
  return {std::make_unique<PipeEnd>(state, 0), std::make_unique<PipeEnd>(state, 1)};
}

}  // namespace culvert::fakes
