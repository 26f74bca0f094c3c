#include "transport/registry.h"

#include "transport/cdn/dialer.h"
#include "transport/tls/dialer.h"

namespace culvert {

std::unique_ptr<TunnelDialer> make_dialer(const asio::any_io_executor& executor, const ShareLink& link,
                                          std::uint8_t preamble_version) {
  if (const auto* cdn = std::get_if<CdnLink>(&link.transport)) {
    cdn::CdnDialerOptions o;
    o.edge_host = link.host;
    o.edge_port = link.port;
    o.authority = link.sni;
    o.server_key = cdn->server_key;
    o.prefix = cdn->path;
    o.mode = cdn->upload == "stream" ? cdn::UploadMode::stream : cdn::UploadMode::packet;
    o.credential = link.credential;
    o.preamble_version = preamble_version;
    return std::make_unique<cdn::CdnDialer>(executor, std::move(o));
  }
  return std::make_unique<tls::TlsDialer>(link);  // tls and borrow
}

}  // namespace culvert
