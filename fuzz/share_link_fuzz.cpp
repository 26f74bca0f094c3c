// Fuzzes share-link parsing; a link that parses must format and parse back to the same fields,
// each transport's own included.
#include "link/share_link.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto link = culvert::parse_share_link({reinterpret_cast<const char*>(data), size});
  if (!link) return 0;
  auto again = culvert::parse_share_link(culvert::format_share_link(*link));
  if (!again || again->host != link->host || again->port != link->port || again->sni != link->sni ||
      again->transport.index() != link->transport.index() || again->server_key() != link->server_key() ||
      again->label != link->label || again->credential.secret != link->credential.secret)
    __builtin_trap();
  const auto* tls = std::get_if<culvert::TlsLink>(&link->transport);
  if (tls && tls->pin != std::get<culvert::TlsLink>(again->transport).pin) __builtin_trap();
  const auto* cdn = std::get_if<culvert::CdnLink>(&link->transport);
  if (cdn && (cdn->path != std::get<culvert::CdnLink>(again->transport).path ||
              cdn->upload != std::get<culvert::CdnLink>(again->transport).upload))
    __builtin_trap();
  return 0;
}
