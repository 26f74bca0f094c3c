// Fuzzes the cover site's request handling: every answer is a complete HTTP/1.1 response.
#include "server/cover_http.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = culvert::cover_respond({data, size});
  if (r && (r->bytes.rfind("HTTP/1.1 ", 0) != 0 || r->consumed > size)) __builtin_trap();
  return 0;
}
