// The admin API's HTTP/1.1 request reader, pure: request line, headers (the few the API uses),
// and a bounded body. One request per connection; anything unusual is refused, never guessed at.
#pragma once

#include <map>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::admin {

inline constexpr std::size_t kMaxHead = 8192;
inline constexpr std::size_t kMaxBody = 64 * 1024;

struct HttpRequest {
  std::string method;
  std::string path;                          // percent-decoded, without the query
  std::map<std::string, std::string> query;  // percent-decoded
  std::string authorization;                 // the Authorization header's value
  std::size_t size = 0;                      // head + body bytes
};

// Errc::truncated: read more. Errc::too_large: head or body over the bounds. Errc::malformed:
// anything else no HTTP client sends.
Result<HttpRequest> parse_http_request(ByteSpan input);

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers = {});

}  // namespace culvert::admin
