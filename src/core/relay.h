// relay(): copy bytes both ways between two streams until both directions have ended.
// Each direction half-closes its destination on end of stream, so protocols that half-close
// (HTTP/1.0 uploads, SSH) behave as they would on a direct connection.
#pragma once

#include <chrono>

#include "core/byte_stream.h"

namespace culvert {

struct RelayStats {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
};

// Copies until both directions end, or until neither direction moved a byte for `idle`.
asio::awaitable<RelayStats> relay(ByteStream& a, ByteStream& b, std::chrono::steady_clock::duration idle);

// One direction: copies `from` into `to` until end of stream or error; half-closes `to` on clean EOF.
asio::awaitable<std::uint64_t> pump(ByteStream& from, ByteStream& to,
                                    std::chrono::steady_clock::time_point& last_activity);

}  // namespace culvert
