// Fuzzes share-link parsing; a link that parses must format and parse back to the same fields.
#include "link/share_link.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto link = culvert::parse_share_link({reinterpret_cast<const char*>(data), size});
  if (!link) return 0;
  auto again = culvert::parse_share_link(culvert::format_share_link(*link));
  if (!again || again->host != link->host || again->port != link->port || again->sni != link->sni ||
      again->pin != link->pin || again->label != link->label || again->credential.secret != link->credential.secret)
    __builtin_trap();
  return 0;
}
