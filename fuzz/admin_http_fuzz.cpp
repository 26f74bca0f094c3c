// Fuzzes the admin API's HTTP request reader.
#include "admin/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = culvert::admin::parse_http_request(culvert::ByteSpan(data, size));
  if (r && (r->size > size || r->path.empty() || r->path.front() != '/')) __builtin_trap();
  return 0;
}
