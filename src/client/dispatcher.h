// Dispatcher: where each new connection, datagram and DNS question of the client goes. Maps fake
// IPs back to their names, asks the router once per connection, and makes that route ready: a
// tunnel of the outbound (server or group), a direct connection from this machine, or nothing
// (blocked); the stream is then opened on it with the application's first bytes.
// Thread model: the client's single-threaded executor. Owned by the Client.
#pragma once

#include <memory>

#include "client/outbounds.h"
#include "dns/fake_ip.h"
#include "inbound/session.h"
#include "routing/router.h"

namespace culvert {

class Dispatcher {
 public:
  Dispatcher(std::shared_ptr<const routing::Router> router, Outbounds& outbounds, dns::FakeIpPool* fake_ip,
             std::chrono::milliseconds connect_timeout)
      : router_(std::move(router)), outbounds_(outbounds), fake_ip_(fake_ip), connect_timeout_(connect_timeout) {}

  // A fake IP handed out by the DNS server becomes its name again (port kept); others unchanged.
  Destination unfake(const Destination& destination) const;
  const routing::Action& route(const Destination& unfaked, routing::Network network, std::string_view inbound) const;
  const routing::Action& route_name(const std::string& name, std::string_view inbound) const;

  // The route of one connection, decided once and made ready (see InboundHandlers::prepare for the
  // errors). Failures are logged at info by their class, never with the destination.
  asio::awaitable<Result<PreparedRoutePtr>> prepare(const Destination& destination, std::string_view inbound);

  Outbounds& outbounds() { return outbounds_; }
  dns::FakeIpPool* fake_ip() { return fake_ip_; }

 private:
  std::shared_ptr<const routing::Router> router_;
  Outbounds& outbounds_;
  dns::FakeIpPool* fake_ip_;
  std::chrono::milliseconds connect_timeout_;
};

}  // namespace culvert
