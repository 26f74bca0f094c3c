// nginx's HTTP/1.x request-line and header-line parsers (ngx_http_parse_request_line and
// ngx_http_parse_header_line of nginx 1.22), re-expressed: the same states, the same bytes
// accepted and refused, the same point at which a request is declared invalid — so the cover site
// answers malformed and random bytes exactly when and how nginx does. Positions are offsets into
// the caller's buffer; when the caller moves a partial line into a larger buffer it calls
// relocate(). Pure code: no I/O, no allocation besides the header list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace culvert::cover {

enum class ParseResult {
  ok,                 // a request line, or one header line, is complete
  again,              // need more bytes
  header_done,        // the empty line after the headers
  invalid_method,     // NGX_HTTP_PARSE_INVALID_METHOD  -> 400
  invalid_request,    // NGX_HTTP_PARSE_INVALID_REQUEST -> 400
  invalid_version,    // NGX_HTTP_PARSE_INVALID_VERSION -> 505
  invalid_09_method,  // NGX_HTTP_PARSE_INVALID_09_METHOD -> 400
  invalid_header,     // NGX_HTTP_PARSE_INVALID_HEADER -> 400
};

enum class Method {
  unknown,
  get,
  head,
  post,
  put,
  delete_,
  mkcol,
  copy,
  move,
  options,
  propfind,
  proppatch,
  lock,
  unlock,
  patch,
  trace,
  connect
};

inline constexpr std::size_t kNone = static_cast<std::size_t>(-1);

struct RequestLineParser {
  int state = 0;  // 0 = sw_start
  Method method = Method::unknown;
  int http_major = 0, http_minor = 0;
  std::size_t request_start = kNone, request_end = kNone, method_end = kNone;
  std::size_t uri_start = kNone, uri_end = kNone, args_start = kNone, uri_ext = kNone;
  std::size_t schema_start = kNone, schema_end = kNone, host_start = kNone, host_end = kNone;
  std::size_t port_end = kNone, http_protocol = kNone;
  bool complex_uri = false, quoted_uri = false, empty_path_in_uri = false, plus_in_uri = false;

  // Parses buffer[pos, last). On ok, `pos` is just past the line; on again, `pos` == last.
  ParseResult parse(const std::uint8_t* buffer, std::size_t& pos, std::size_t last);
  int http_version() const { return http_major * 1000 + http_minor; }
  void relocate(std::size_t old_start);
};

struct HeaderLineParser {
  int state = 0;
  bool invalid_header = false;
  std::size_t name_start = kNone, name_end = kNone, value_start = kNone, value_end = kNone;

  // Parses one header line (or the empty line) from buffer[pos, last).
  ParseResult parse(const std::uint8_t* buffer, std::size_t& pos, std::size_t last);
  void relocate(std::size_t old_start);
};

// nginx's ngx_http_validate_host: the host without port and trailing dot, lower-cased; empty
// (and false) when invalid.
bool validate_host(std::string_view host, std::string& out);

// nginx's ngx_http_parse_complex_uri with merge_slashes on: %-decoding, "//", "/./", "/../";
// false where nginx answers 400. `uri` is the path before '?'.
bool normalize_uri(std::string_view uri, std::string& out);

}  // namespace culvert::cover
