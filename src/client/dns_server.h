// The client's DNS server (UDP and TCP on a loopback port). Each question is routed by its name:
//   block          NXDOMAIN
//   through a tunnel  resolved at the server (a datagram to mux::kTunnelResolverName over that
//                  outbound), or, in fake-IP mode, answered at once from the fake range for A
//                  (and with no AAAA records, so applications use the fake IPv4 address)
//   direct         the configured domestic resolver, over UDP from this machine
// Answers are cached for their TTL (dns/cache.h); upstream queries use a fresh random id and
// answers are checked against the question, so a stray or forged packet is not taken.
// Thread model: the client's executor. Owned by the Client.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include "client/dispatcher.h"
#include "config/client_config.h"
#include "dns/cache.h"

namespace culvert {

struct DnsCounters {
  std::uint64_t queries = 0;
  std::uint64_t cached = 0;
  std::uint64_t via_tunnel = 0;
  std::uint64_t direct = 0;
  std::uint64_t fake = 0;
  std::uint64_t blocked = 0;
  std::uint64_t failed = 0;
};

class DnsServer {
 public:
  DnsServer(asio::any_io_executor executor, Dispatcher& dispatcher, DnsConfig config);
  Result<void> start(std::string& message);
  void stop();
  asio::ip::udp::endpoint local_endpoint() const { return udp_.local_endpoint(); }

  // The answer to one query message (never empty for a query with a whole header).
  asio::awaitable<Bytes> answer(Bytes query);
  const DnsCounters& counters() const { return counters_; }

 private:
  asio::awaitable<void> udp_loop();
  asio::awaitable<void> tcp_accept_loop();
  asio::awaitable<void> tcp_session(asio::ip::tcp::socket socket);
  asio::awaitable<void> answer_udp(Bytes query, asio::ip::udp::endpoint from);
  asio::awaitable<Result<Bytes>> ask_direct(const Bytes& query);
  asio::awaitable<Result<Bytes>> ask_tunnel(const std::string& outbound, const Bytes& query);

  asio::any_io_executor executor_;
  Dispatcher& dispatcher_;
  DnsConfig config_;
  asio::ip::udp::endpoint direct_resolver_;
  asio::ip::udp::socket udp_;
  asio::ip::tcp::acceptor tcp_;
  dns::Cache cache_;
  DnsCounters counters_;
  std::size_t in_flight_ = 0;
  bool stopping_ = false;
};

}  // namespace culvert
