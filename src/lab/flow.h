// A recorded TCP connection as the censor's passive classifier sees it: the byte chunks each side
// sent, in order, with their time. Chunks are what one read() returned in the lab relay, an
// approximation of packets (a packet capture would split or merge some of them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::lab {

enum class Direction { client_to_server, server_to_client };

struct Segment {
  Direction direction;
  std::uint64_t time_ms = 0;  // since the connection opened
  Bytes bytes;
};

using Flow = std::vector<Segment>;

// Text form used by `culvert lab relay --record` and `culvert lab classify`: one segment a line,
// "C <ms> <hex>" (client to server) or "S <ms> <hex>"; '#' starts a comment line.
std::string format_flow(const Flow& flow);
Result<Flow> parse_flow(std::string_view text);

// All bytes one side sent, concatenated.
Bytes stream_of(const Flow& flow, Direction direction);

}  // namespace culvert::lab
