// Fuzzes the ACME client's HTTP answer parser (what an ACME server, or anyone in its place, sends
// back): any input is parsed or refused, never read out of bounds.
#include <string_view>

#include "acme/https.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = culvert::acme::parse_http_response(std::string_view(reinterpret_cast<const char*>(data), size));
  if (r && (r->status < 0 || r->status > 999 || r->body.size() > size)) __builtin_trap();
  return 0;
}
