// Fuzzes the HTTP proxy request parser and its absolute-form rewrite.
#include "inbound/http/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = culvert::http::parse_proxy_request({data, size});
  if (r) {
    if (r->head_size > size) __builtin_trap();
    // A rewritten request must itself end its head exactly once.
    if (!r->is_connect && r->forward_head.find("\r\n\r\n") != r->forward_head.size() - 4) __builtin_trap();
  }
  return 0;
}
