// The transport registry's server half: the acceptor for the configured transport.
#include "server/acceptors/borrow_acceptor.h"
#include "server/acceptors/cdn_acceptor.h"
#include "server/acceptors/tls_acceptor.h"
#include "server/server.h"

namespace culvert {

std::unique_ptr<TransportAcceptor> make_acceptor(Server& server) {
  const auto& transport = server.config().transport;
  if (transport == "tls") return std::make_unique<TlsAcceptor>(server);
  if (transport == "borrow") return std::make_unique<BorrowAcceptor>(server);
  if (transport == "cdn") return std::make_unique<CdnAcceptor>(server);
  return nullptr;
}

}  // namespace culvert
