// Server: accepts connections and hands each to its transport's acceptor (server/acceptors/),
// which tells users (a mux tunnel, run here) from everyone else (the cover site or the borrowed
// site); dials destinations for users, and keeps users' limits, quotas and usage.
// Thread model: everything runs on one single-threaded io_context.
// Ownership: the Server owns the listener, the acceptor and the user store; tunnels own
// themselves (each lives in its coroutine) and are closed by stop(). Its coroutines refer to it:
// after stop(), let the io_context run (or destroy the io_context) before destroying the Server.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

#include "config/server_config.h"
#include "mux/session.h"
#include "server/acceptors/acceptor.h"
#include "server/metrics.h"
#include "server/subscription.h"
#include "store/user_store.h"

namespace culvert {

class Server {
 public:
  Server(asio::io_context& io, ServerConfig config, std::unique_ptr<UserStore> store);
  ~Server();

  // Binds the public listener and the cover site; startup errors come back with a message.
  Result<void> start(std::string& message);
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  // Stops accepting and closes every tunnel and relay.
  void stop();
  // SIGTERM: stops accepting, tells every tunnel GOAWAY (clients move new streams elsewhere),
  // closes tunnels as their streams end, and after `limit` closes the rest; then stop().
  asio::awaitable<void> drain(std::chrono::milliseconds limit);
  // SIGHUP: applies a re-read configuration without dropping tunnels (certificate, cover upstream,
  // limits, timeouts, DNS resolver, log level). Settings that need a restart keep their old value
  // (logged). On error nothing changes.
  Result<void> reload(ServerConfig fresh, std::string& message);
  const ServerConfig& config() const { return config_; }

  std::size_t open_tunnels() const { return tunnels_.size(); }
  // Prometheus text of the server's counters (aggregates only).
  std::string render_metrics() const;
  ServerMetrics& metrics() { return metrics_; }

  // For the transport acceptors.
  asio::io_context& io() { return io_; }
  UserStore& store() { return *store_; }
  // The cover's claim for users' subscriptions (server/subscription.h).
  cover::Claim subscription_claim() { return subscriptions_->claim(); }
  bool stopping() const { return stopping_; }
  // The user whose preamble (auth.h) this is, bound to `binding` (the TLS exporter, or the CDN
  // handshake's hash); nothing for anyone else. Costs the same for known and unknown key ids.
  std::optional<User> authenticate(ByteSpan preamble, const std::array<std::uint8_t, 32>& binding);
  // Runs a user's tunnel on `stream` until it ends; `after_preamble` are bytes already read.
  // `socket_fd`: the TCP socket under the tunnel when it is this server's own (tls, borrow; not a
  // CDN's connection shared by many), for per-tunnel socket tuning; -1 when there is none.
  asio::awaitable<void> run_tunnel(ByteStreamPtr stream, ByteSpan after_preamble, const User& user, int socket_fd = -1);
  // A user may open one more tunnel (their own limit, the server's per-user and total limits).
  bool admit(const User& user);

 private:
  asio::awaitable<void> accept_loop();
  Result<void> resolve_dns_resolver(std::string& message);
  asio::awaitable<void> handle_stream(std::unique_ptr<mux::Stream> stream, Destination destination);
  asio::awaitable<void> handle_association(std::unique_ptr<mux::Stream> association, std::string user);
  // Received bytes waiting for their destinations exceed memory_budget_mb: no new work.
  bool over_memory_budget() const;
  // Every few seconds: usage to the store in one batch; tunnels of users no longer usable closed.
  asio::awaitable<void> housekeeping();
  void collect_usage();
  void flush_usage();
  void check_users();

  asio::io_context& io_;
  ServerConfig config_;
  std::unique_ptr<UserStore> store_;
  std::unique_ptr<TransportAcceptor> transport_;
  std::unique_ptr<SubscriptionService> subscriptions_;
  asio::ip::tcp::acceptor acceptor_;
  struct TunnelInfo {
    std::string user;
    std::uint64_t counted_in = 0;  // bytes already added to the usage batch
    std::uint64_t counted_out = 0;
  };
  std::map<std::shared_ptr<mux::Session>, TunnelInfo> tunnels_;
  std::map<std::string, UsageDelta> pending_usage_;  // per user, flushed in batches
  // Per user with a quota: bytes this server may still carry before it asks the store again (a
  // share of what is left, so servers sharing a store overshoot by at most their shares).
  struct QuotaLease {
    std::int64_t left = 0;
  };
  std::unordered_map<std::string, std::weak_ptr<QuotaLease>> leases_;
  // A fresh share of `name`'s remaining quota into `lease`; false when nothing is left.
  bool renew_lease(const std::string& name, QuotaLease& lease);
  asio::steady_timer housekeeping_timer_;
  ServerMetrics metrics_;
  // Per user name, the associations being relayed; one whose stream the peer already reset does
  // not count (its relay may not have woken yet).
  std::unordered_map<std::string, std::vector<mux::Stream*>> udp_associations_;
  std::optional<asio::ip::udp::endpoint> dns_resolver_;  // for clients' tunnel DNS
  bool stopping_ = false;
};

}  // namespace culvert
