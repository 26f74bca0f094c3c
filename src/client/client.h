// Client: the local proxy. Listens on a loopback port for SOCKS5 (CONNECT and UDP ASSOCIATE) and
// HTTP proxy requests and for GET /proxy.pac; routes each connection and datagram by the rules
// (through a server or group, direct, or blocked); optionally runs the DNS server.
// Thread model: one single-threaded io_context. Ownership: the Client owns its outbounds, router,
// fake-IP pool and DNS server; stop() ends them, then let the io_context run or be destroyed.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <memory>

#include "client/dispatcher.h"
#include "client/dns_server.h"
#include "client/outbounds.h"
#include "client/subscription.h"
#include "config/client_config.h"
#include "inbound/session.h"

namespace culvert {

struct ClientOptions {
  TunnelPoolOptions pool;
  InboundOptions inbound;
  std::chrono::milliseconds udp_idle_timeout{300000};
};

class Client {
 public:
  Client(asio::io_context& io, ClientConfig config, ClientOptions options = {});
  ~Client();
  // Builds the router (rule sets, GeoIP), binds the proxy port and the DNS server.
  Result<void> start(std::string& message);
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  // The DNS server's address; only when one is configured.
  std::optional<asio::ip::udp::endpoint> dns_endpoint() const;
  void stop();

 private:
  asio::awaitable<void> accept_loop();

  asio::io_context& io_;
  ClientConfig config_;
  ClientOptions options_;
  std::unique_ptr<Outbounds> outbounds_;
  std::vector<std::unique_ptr<SubscriptionUpdater>> subscriptions_;
  std::unique_ptr<dns::FakeIpPool> fake_ip_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<DnsServer> dns_;
  std::shared_ptr<InboundHandlers> handlers_;
  asio::ip::tcp::acceptor acceptor_;
  bool stopping_ = false;
};

}  // namespace culvert
