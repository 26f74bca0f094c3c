// relay(): copy bytes both ways between two streams until both directions have ended.
// Each direction half-closes its destination on end of stream, so protocols that half-close
// (HTTP/1.0 uploads, SSH) behave as they would on a direct connection.
#pragma once

#include <chrono>

#include <asio/any_io_executor.hpp>

#include "core/byte_stream.h"

namespace culvert {

struct RelayStats {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
};

// Copies until both directions end, or until neither direction moved a byte for `idle`.
asio::awaitable<RelayStats> relay(ByteStream& a, ByteStream& b, std::chrono::steady_clock::duration idle);

// The same, spawned on `executor` and owning both streams; returns at once. For proxied streams,
// which may live for hours: the coroutine that set the connection up (handshake buffers, parsers,
// timers) ends instead of waiting in its frame, and each direction is one small coroutine.
void spawn_relay(const asio::any_io_executor& executor, ByteStreamPtr a, ByteStreamPtr b,
                 std::chrono::steady_clock::duration idle);

}  // namespace culvert
