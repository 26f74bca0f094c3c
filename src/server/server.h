// Server: accepts TLS connections, decides on the first record whether the peer is a user
// (mux tunnel) or anyone else (relayed to the cover site), and dials destinations for users.
// Thread model: everything runs on one single-threaded io_context.
// Ownership: the Server owns the listener, the cover site and the user store; tunnels own
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

#include "acme/manager.h"
#include "config/server_config.h"
#include "mux/session.h"
#include "server/borrow.h"
#include "server/metrics.h"
#include "store/user_store.h"
#include "transport/tls/context.h"

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

 private:
  asio::awaitable<void> accept_loop();
  // The tls transport's gate (server/tls_gate.cpp): nginx's path for everyone, a tunnel for users.
  asio::awaitable<void> handle_connection(asio::ip::tcp::socket socket);
  // transport = "borrow": users are answered in the target's shape, everyone else is relayed to it.
  asio::awaitable<void> handle_borrow_connection(asio::ip::tcp::socket socket);
  Result<void> start_tls_and_cover(std::string& message);
  // The ACME manager's options from the configuration (acme.directory set, tls transport).
  acme::ManagerOptions acme_options() const;
  Result<void> load_certificate(std::string& message);
  void reload_certificate_if_changed();  // renewed by an ACME client: picked up within seconds
  Result<void> resolve_dns_resolver(std::string& message);
  Result<void> start_borrow(std::string& message);
  asio::awaitable<void> watch_target_tickets();
  asio::awaitable<void> run_tunnel(ByteStreamPtr tls, ByteSpan after_preamble, const User& user);
  asio::awaitable<void> handle_stream(std::unique_ptr<mux::Stream> stream, Destination destination);
  asio::awaitable<void> handle_association(std::unique_ptr<mux::Stream> association, std::string user);
  asio::awaitable<Result<asio::ip::tcp::socket>> connect_upstream(const std::string& host, std::uint16_t port);
  void split_upstreams();  // cover.upstream and cover.upstream_tls into host and port
  std::optional<User> authenticate(ByteSpan first_record, const std::array<std::uint8_t, 32>& exporter);
  // A user may open one more tunnel (their own limit, the server's per-user and total limits).
  bool admit(const User& user);
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
  tls::ServerContext tls_;
  std::vector<tls::ServerContext> retired_tls_;
  std::int64_t certificate_loaded_ = 0;  // newest mtime (ns) of the certificate and key in use
  asio::ip::tcp::acceptor acceptor_;
  std::string cover_host_;  // cover.upstream (plain HTTP)
  std::uint16_t cover_port_ = 0;
  std::string cover_tls_host_;  // cover.upstream_tls (the same server's TLS port), or ""
  std::uint16_t cover_tls_port_ = 0;
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
  std::unique_ptr<acme::Manager> acme_;  // certificates from an ACME CA, when configured
  std::unique_ptr<BorrowGate> borrow_gate_;
  tls13::ServerCredentials borrow_credentials_;
  std::string target_host_;
  std::uint16_t target_port_ = 0;
  std::vector<std::size_t> target_ticket_records_;  // refreshed by watch_target_tickets()
  asio::steady_timer ticket_timer_;
  asio::steady_timer housekeeping_timer_;
  ServerMetrics metrics_;
  // Per user name, the associations being relayed; one whose stream the peer already reset does
  // not count (its relay may not have woken yet).
  std::unordered_map<std::string, std::vector<mux::Stream*>> udp_associations_;
  std::optional<asio::ip::udp::endpoint> dns_resolver_;  // for clients' tunnel DNS
  bool stopping_ = false;
};

}  // namespace culvert
