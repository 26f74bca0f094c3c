// Fuzzes the cover site's request parsing (nginx's request-line and header-line state machines,
// fed in pieces as reads would bring them), URI normalization, host validation and the answer
// built from what was parsed: every position stays inside the input, every answer is complete.
#include <string>

#include "cover/request_parser.h"
#include "cover/response.h"

using namespace culvert::cover;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte chooses where the input is cut in two, as two reads would bring it.
  if (size == 0) return 0;
  std::size_t cut = 1 + data[0] % (size);
  RequestLineParser line;
  std::size_t pos = 1;
  auto rc = line.parse(data, pos, std::min(cut, size));
  if (rc == ParseResult::again) rc = line.parse(data, pos, size);
  if (pos > size) __builtin_trap();
  if (rc != ParseResult::ok) return 0;
  if (line.uri_start == kNone || line.uri_end == kNone || line.uri_end > size || line.uri_start > line.uri_end)
    __builtin_trap();
  std::string uri;
  std::string raw(line.empty_path_in_uri ? 1 : 0, '/');  // as the HTTP/1 connection does
  raw.append(reinterpret_cast<const char*>(data) + line.uri_start, line.uri_end - line.uri_start);
  RequestFacts facts;
  facts.method = line.method;
  facts.http_version = line.http_version();
  if (!normalize_uri(raw, uri)) uri.assign(1, '/');  // (not = "/": GCC 12 -Wrestrict false positive)
  if (uri.empty() || uri[0] != '/') __builtin_trap();
  facts.uri = uri;
  HeaderLineParser header;
  for (;;) {
    auto hr = header.parse(data, pos, size);
    if (pos > size) __builtin_trap();
    if (hr != ParseResult::ok) break;
    if (header.value_end != kNone && header.value_start != kNone && header.value_end >= header.value_start &&
        header.value_end <= size) {
      std::string value(reinterpret_cast<const char*>(data) + header.value_start,
                        header.value_end - header.value_start);
      std::string host;
      validate_host(value, host);
      facts.range = value;
      facts.accept_encoding = value;
      facts.if_none_match = value;
    }
  }
  auto response = static_response(facts);
  auto bytes = serialize_http1(response, facts.http_version, false, "Thu, 01 Jan 1970 00:00:00 GMT");
  if (facts.http_version >= 1000 && bytes.rfind("HTTP/1.1 ", 0) != 0) __builtin_trap();
  return 0;
}
