// What the cover site answers, as nginx 1.22 builds it: the static module's file responses with
// their ETag and Last-Modified, the not-modified, range and gzip filters (gzip on, nginx's
// defaults: text/html only, level 1, HTTP/1.1 and up, not through proxies), nginx's own error
// pages with its version in the tail and the padding it adds for MSIE and Chrome, and the header
// filter's order of headers. One Response serializes to HTTP/1.x bytes or to an HTTP/2 header list.
// Pure code: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cover/pages.h"
#include "cover/request_parser.h"

namespace culvert::cover {

inline constexpr std::string_view kServerToken = "nginx/1.22.1";

// What the request said that shapes the answer (a subset of nginx's headers_in).
struct RequestFacts {
  Method method = Method::get;
  int http_version = 1001;  // 9, 1000, 1001 (and 2000 for HTTP/2)
  std::string uri;          // normalized path, without arguments
  bool msie = false, msie6 = false, chrome = false;
  std::string accept_encoding;
  bool via = false;
  std::string range, if_range;
  std::string if_modified_since, if_unmodified_since, if_match, if_none_match;
};

struct Response {
  int status = 200;  // as sent (494 and 497 are sent as 400)
  std::string content_type;
  long long content_length = -1;
  std::string last_modified;
  bool chunked = false;                                      // HTTP/1.1 gzip
  std::vector<std::pair<std::string, std::string>> headers;  // ETag, Accept-Ranges, ...
  std::string body;
  bool header_only = false;
};

// nginx's error page for `status` (400, 404, 405, 413, 414, 494, 497, ...) with its headers; the
// body follows the rules for HEAD and the padding for MSIE/Chrome.
Response special_response(int status, const RequestFacts& facts);

// The answer to a request that reached the content phase (try_files $uri $uri/ =404, index, the
// static module). `status` is set to an error to answer with that error's page instead.
Response static_response(const RequestFacts& facts);

// HTTP/1.x bytes of `r`: status line and headers (none for HTTP/0.9), then the body.
std::string serialize_http1(const Response& r, int http_version, bool keepalive, std::string_view date);

// The header list of `r` for HTTP/2 (":status" first, lower-case names, no connection headers).
std::vector<std::pair<std::string, std::string>> h2_headers(const Response& r, std::string_view date);

// "Mon, 07 Dec 2026 01:46:18 GMT"
std::string http_date(std::int64_t unix_seconds);
// nginx's ngx_parse_http_time; -1 if it is not a date.
std::int64_t parse_http_date(std::string_view text);

}  // namespace culvert::cover
