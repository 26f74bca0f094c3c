// The cover website's HTTP/1.1 request handling, pure (bytes in, response bytes out), so that it
// is unit-tested and fuzzed without sockets. Answers like a default nginx serving a static site:
// same status lines, error pages, header limits and keep-alive rules.
#pragma once

#include <optional>
#include <string>

#include "core/bytes.h"

namespace culvert {

struct CoverResponse {
  std::string bytes;
  bool keep_alive = false;
  std::size_t consumed = 0;  // request bytes used (head + body)
};

// Answers the request at the front of `input`, or returns std::nullopt if the request is not
// complete yet (and not over the size limits). A response with keep_alive == false ends the
// connection.
std::optional<CoverResponse> cover_respond(ByteSpan input);

}  // namespace culvert
