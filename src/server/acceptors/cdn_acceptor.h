// The cdn transport's acceptor: `listen` is the cover site as a CDN (or any reverse proxy) reaches
// it, over plain HTTP or, with cdn.origin_tls, TLS with nginx's settings (HTTP/1.1 only: reverse
// proxies speak it to their origins). Every request is parsed as nginx parses it; those at the
// secret path prefix go to the CDN sessions (transport/cdn/session_gate.h), the rest, and any of
// those that is not a valid part of a session, are answered by the cover.
// Thread model and ownership: as TransportAcceptor.
#pragma once

#include <memory>
#include <vector>

#include "server/acceptors/acceptor.h"
#include "transport/cdn/session_gate.h"
#include "transport/tls/context.h"

namespace culvert {

class CdnAcceptor : public TransportAcceptor {
 public:
  using TransportAcceptor::TransportAcceptor;
  Result<void> start(std::string& message) override;
  Result<void> reload(std::string& message) override;
  asio::awaitable<void> handle(asio::ip::tcp::socket socket) override;
  void stop() override;
  std::size_t sessions() const { return gate_ ? gate_->sessions() : 0; }

 private:
  Result<void> load_certificate(std::string& message);

  std::unique_ptr<cdn::SessionGate> gate_;
  tls::ServerContext tls_;
  std::vector<tls::ServerContext> retired_tls_;
};

}  // namespace culvert
