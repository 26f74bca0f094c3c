#include "server/server.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include "core/await.h"
#include "core/congestion.h"
#include "core/congestion_watch.h"
#include "core/file.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <limits>

#include <asio/write.hpp>
#include "core/dialer.h"
#include "core/mirror_relay.h"
#include "core/relay.h"
#include "core/tcp_stream.h"
#include "crypto/crypto.h"
#include "server/name_lookup.h"
#include "server/udp_relay.h"
#include "transport/tls/auth.h"
#include "transport/tls/certificate.h"
#include "transport/tls/tls_stream.h"

namespace culvert {
namespace {

mux::ResetReason reset_reason_for(std::error_code ec) {
  if (ec == Errc::destination_refused) return mux::ResetReason::refused;
  if (ec == Errc::timed_out) return mux::ResetReason::timed_out;
  return mux::ResetReason::dial_failed;
}

}  // namespace

Server::Server(asio::io_context& io, ServerConfig config, std::unique_ptr<UserStore> store)
    : io_(io), config_(std::move(config)), store_(std::move(store)), acceptor_(io), housekeeping_timer_(io) {}

Server::~Server() { stop(); }

Result<void> Server::start(std::string& message) {
  subscriptions_ = std::make_unique<SubscriptionService>(config_, *store_);
  transport_ = make_acceptor(*this);
  if (!transport_) {
    message = "transport \"" + config_.transport + "\" is not supported";
    return fail(Errc::bad_config);
  }
  if (auto ready = transport_->start(message); !ready) return ready;
  if (auto listening = listen_on(acceptor_, config_.listen, message); !listening) return listening;
  if (auto resolver = resolve_dns_resolver(message); !resolver) return resolver;
  // Accepted sockets inherit the listener's congestion control from their first segment on.
  auto congestion = apply_congestion_control(acceptor_.native_handle(), config_.congestion_control);
  if (!config_.congestion_control.empty() && congestion != config_.congestion_control) {
    spdlog::warn("congestion control {} refused by the kernel; tunnels use {}", config_.congestion_control, congestion);
  } else {
    spdlog::info("tunnels use TCP congestion control {}", congestion);
  }
  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, housekeeping(), asio::detached);
  return {};
}

Result<void> Server::reload(ServerConfig fresh, std::string& message) {
  // What a running server cannot change: say so and keep the old value.
  auto keep = [&](auto ServerConfig::*field, const char* name) {
    if (fresh.*field != config_.*field) {
      spdlog::warn("reload: {} changed; it takes effect after a restart", name);
      fresh.*field = config_.*field;
    }
  };
  keep(&ServerConfig::listen, "listen");
  keep(&ServerConfig::transport, "transport");
  keep(&ServerConfig::target, "target");
  keep(&ServerConfig::sni, "sni");
  keep(&ServerConfig::store, "store");
  keep(&ServerConfig::users_db, "users_db");
  keep(&ServerConfig::postgres, "postgres");
  keep(&ServerConfig::static_key, "static_key");
  keep(&ServerConfig::congestion_control, "congestion_control");
  keep(&ServerConfig::admin_listen, "admin_listen");
  keep(&ServerConfig::run_as, "run_as");
  if (fresh.cover.mode != config_.cover.mode) {
    spdlog::warn("reload: cover.mode changed; it takes effect after a restart");
    fresh.cover.mode = config_.cover.mode;
  }
  if (fresh.cdn.path != config_.cdn.path || fresh.cdn.origin_tls != config_.cdn.origin_tls) {
    spdlog::warn("reload: cdn.path or cdn.origin_tls changed; it takes effect after a restart");
    fresh.cdn.path = config_.cdn.path;
    fresh.cdn.origin_tls = config_.cdn.origin_tls;
  }
  auto old = std::move(config_);
  config_ = std::move(fresh);
  if (auto reloaded = transport_->reload(message); !reloaded) {
    config_ = std::move(old);
    ++metrics_.reload_failures_total;
    return reloaded;
  }
  if (auto resolver = resolve_dns_resolver(message); !resolver) {
    config_ = std::move(old);
    ++metrics_.reload_failures_total;
    return resolver;
  }
  ++metrics_.reloads_total;
  return {};
}

Result<void> Server::resolve_dns_resolver(std::string& message) {
  if (config_.dns_resolver.empty()) {
    dns_resolver_ = first_nameserver(read_file("/etc/resolv.conf").value_or(""));
    if (!dns_resolver_) spdlog::warn("no nameserver in /etc/resolv.conf: clients' tunnel DNS queries are dropped");
    return {};
  }
  std::string host;
  std::uint16_t port = 0;
  split_host_port(config_.dns_resolver, host, port);
  std::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    message = "dns_resolver must be an IP address and port, got \"" + config_.dns_resolver + "\"";
    return fail(Errc::bad_config);
  }
  dns_resolver_ = asio::ip::udp::endpoint(address, port);
  // Name a resolver that does not answer now, not after clients' lookups time out one by one.
  asio::co_spawn(io_, check_resolver(*dns_resolver_, std::chrono::milliseconds(3000)), asio::detached);
  return {};
}

asio::awaitable<void> Server::drain(std::chrono::milliseconds limit) {
  std::error_code ignored;
  acceptor_.close(ignored);  // no new connections; the port closes like a stopped service's
  for (auto& [t, info] : tunnels_) t->goaway();
  spdlog::info("draining {} tunnels (up to {} s)", tunnels_.size(), limit.count() / 1000);
  auto deadline = std::chrono::steady_clock::now() + limit;
  asio::steady_timer tick(io_);
  while (!tunnels_.empty() && std::chrono::steady_clock::now() < deadline) {
    std::vector<std::shared_ptr<mux::Session>> idle;
    for (auto& [t, info] : tunnels_)
      if (t->stream_count() == 0) idle.push_back(t);
    for (auto& t : idle) t->close(make_error_code(Errc::tunnel_closed));
    tick.expires_after(std::chrono::milliseconds(100));
    co_await tick.async_wait(use_tuple);
  }
  if (!tunnels_.empty()) spdlog::warn("drain deadline: closing {} tunnels with open streams", tunnels_.size());
  stop();
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  housekeeping_timer_.cancel();
  if (transport_) transport_->stop();
  std::vector<std::shared_ptr<mux::Session>> tunnels;
  for (auto& [t, info] : tunnels_) tunnels.push_back(t);
  for (auto& t : tunnels) t->close(make_error_code(Errc::tunnel_closed));
  collect_usage();
  flush_usage();
}

bool Server::over_memory_budget() const {
  return config_.memory_budget_mb != 0 && mux::buffered_bytes() > config_.memory_budget_mb * 1024 * 1024;
}

bool Server::admit(const User& user) {
  if (over_memory_budget()) {
    ++metrics_.refused_tunnel_memory_total;
    return false;
  }
  if (config_.max_tunnels != 0 && tunnels_.size() >= config_.max_tunnels) {
    ++metrics_.refused_tunnel_limit_total;
    return false;
  }
  std::size_t limit = user.max_tunnels != 0 ? user.max_tunnels : config_.max_tunnels_per_user;
  if (limit == 0) return true;
  std::size_t open = 0;
  for (const auto& [t, info] : tunnels_) open += info.user == user.name ? 1 : 0;
  if (open < limit) return true;
  ++metrics_.refused_user_tunnel_limit_total;
  return false;
}

void Server::collect_usage() {
  for (auto& [session, info] : tunnels_) {
    const auto& c = session->counters();
    auto& pending = pending_usage_[info.user];
    pending.name = info.user;
    pending.up += c.bytes_in - info.counted_in;
    pending.down += c.bytes_out - info.counted_out;
    info.counted_in = c.bytes_in;
    info.counted_out = c.bytes_out;
  }
}

bool Server::renew_lease(const std::string& name, QuotaLease& lease) {
  // What the store knows, plus what this server counted and has not written yet.
  collect_usage();
  flush_usage();
  auto user = store_->get(name);
  if (!user) return false;
  auto now = unix_now();
  std::uint64_t used = user->used_in_period(now);
  for (const auto& [n, delta] : pending_usage_)
    if (n == name) used += delta.up + delta.down;
  if (user->quota_bytes == 0) {
    lease.left = std::numeric_limits<std::int64_t>::max() / 2;
    return true;
  }
  if (used >= user->quota_bytes) {
    spdlog::info("user {} is over quota: closing their tunnels", name);
    return false;
  }
  // A share: 1% of the quota, at least 1 MiB, never more than is left. Counted bytes beyond the
  // old share (lease.left < 0) are already in `used`.
  std::uint64_t left = user->quota_bytes - used;
  std::uint64_t share = std::max<std::uint64_t>(user->quota_bytes / 100, 1 << 20);
  lease.left = static_cast<std::int64_t>(std::min(left, share));
  return true;
}

void Server::flush_usage() {
  std::vector<UsageDelta> batch;
  for (auto& [name, delta] : pending_usage_)
    if (delta.up != 0 || delta.down != 0) batch.push_back(delta);
  if (batch.empty()) return;
  if (auto added = store_->add_usage(batch, unix_now()); !added) {
    // Kept for the next flush: usage is never lost to a busy or unreachable store.
    ++metrics_.store_errors_total;
    spdlog::warn("usage flush failed ({} users); retrying next time", batch.size());
    return;
  }
  pending_usage_.clear();
}

void Server::check_users() {
  std::set<std::string> names;
  for (const auto& [t, info] : tunnels_) names.insert(info.user);
  auto now = unix_now();
  for (const auto& name : names) {
    auto user = store_->get(name);
    std::string why = user ? user->status(now) : "removed";
    if (!user && user.error() != Errc::store_failed) continue;
    if (why.empty()) continue;
    std::vector<std::shared_ptr<mux::Session>> ended;
    for (const auto& [t, info] : tunnels_)
      if (info.user == name) ended.push_back(t);
    spdlog::info("closing {} tunnels of user {}: {}", ended.size(), name, why);
    for (auto& t : ended) t->close(make_error_code(Errc::auth_failed));
  }
}

asio::awaitable<void> Server::housekeeping() {
  auto last_flush = std::chrono::steady_clock::now();
  while (!stopping_) {
    housekeeping_timer_.expires_after(config_.user_check_interval);
    co_await housekeeping_timer_.async_wait(use_tuple);
    if (stopping_) co_return;
    collect_usage();
    if (std::chrono::steady_clock::now() - last_flush >= config_.usage_flush_interval) {
      flush_usage();
      last_flush = std::chrono::steady_clock::now();
    }
    check_users();
    transport_->tick();
  }
}

asio::awaitable<void> Server::accept_loop() {
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    // Stopped, or draining (SIGTERM closed the acceptor): no more connections, and nothing to log.
    if (stopping_ || !acceptor_.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and the like: log, wait, go on (never spin).
      spdlog::warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    ++metrics_.connections_total;
    asio::co_spawn(io_, transport_->handle(std::move(socket)), asio::detached);
  }
}

std::optional<User> Server::authenticate(ByteSpan preamble_bytes, const std::array<std::uint8_t, 32>& binding) {
  auto preamble = tls::parse_preamble(preamble_bytes);
  if (!preamble || preamble->version != mux::kVersion) return std::nullopt;
  auto user = store_->find_active(preamble->key_id, unix_now());
  if (!user) {
    ++metrics_.store_errors_total;
    spdlog::error("user store lookup failed: {}", user.error().message());
    return std::nullopt;
  }
  // Unknown key ids still cost one HMAC, so timing does not tell known ids from unknown ones.
  static const std::array<std::uint8_t, 32> kDummySecret{};
  const auto& secret = *user ? (*user)->credential.secret : kDummySecret;
  bool ok = tls::verify_preamble(*preamble, secret, binding);
  if (!ok || !*user) return std::nullopt;
  return **user;
}

asio::awaitable<void> Server::run_tunnel(ByteStreamPtr stream, ByteSpan after_preamble, const User& user,
                                         int socket_fd) {
  mux::SessionOptions options;
  // Downloads: this side sends. A download after an idle spell, or one that start-up left on a
  // low estimate, gets a fresh start-up (core/congestion_watch.h).
  if (socket_fd >= 0) {
    options.before_write = [watch = std::make_shared<CongestionWatch>(socket_fd)](bool waited) {
      watch->on_write(waited);
    };
  }
  options.is_client = false;
  options.keepalive_interval = std::chrono::milliseconds(0);
  options.dead_after = std::chrono::milliseconds(90000);
  options.idle_close = std::chrono::milliseconds(600000);
  options.max_streams = config_.max_streams_per_tunnel;
  if (user.quota_bytes > 0) {
    // The quota is enforced as bytes are counted, not at the next periodic check.
    auto lease = leases_[user.name].lock();
    if (!lease) {
      lease = std::make_shared<QuotaLease>();
      leases_[user.name] = lease;
      if (!renew_lease(user.name, *lease)) co_return;
    }
    options.charge = [this, name = user.name, lease](std::uint64_t bytes) {
      lease->left -= static_cast<std::int64_t>(bytes);
      return lease->left >= 0 || renew_lease(name, *lease);
    };
  }
  auto session = mux::Session::create(io_.get_executor(), std::move(stream), options);
  session->feed_input(after_preamble);
  session->set_accept_handler([this, name = user.name](std::unique_ptr<mux::Stream> stream, Destination destination) {
    if (over_memory_budget()) {
      ++metrics_.refused_streams_memory_total;
      stream->reset(mux::ResetReason::refused);
      return;
    }
    if (stream->is_datagram()) {
      asio::co_spawn(io_, handle_association(std::move(stream), name), asio::detached);
      return;
    }
    asio::co_spawn(io_, handle_stream(std::move(stream), std::move(destination)), asio::detached);
  });
  tunnels_.emplace(session, TunnelInfo{user.name, 0, 0});
  ++metrics_.tunnels_opened_total;
  auto started = std::chrono::steady_clock::now();
  spdlog::debug("tunnel opened user={} tunnels={}", user.name, tunnels_.size());
  co_await session->run();
  {
    // The tunnel's last bytes join the next usage batch.
    auto it = tunnels_.find(session);
    auto& pending = pending_usage_[user.name];
    pending.name = user.name;
    pending.up += session->counters().bytes_in - it->second.counted_in;
    pending.down += session->counters().bytes_out - it->second.counted_out;
    tunnels_.erase(it);
  }
  metrics_.streams_closed_total += session->counters().streams_opened;
  metrics_.bytes_in_closed += session->counters().bytes_in;
  metrics_.bytes_out_closed += session->counters().bytes_out;
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
  const auto& c = session->counters();
  // The one info line per tunnel: who, how much, how long; never where to or from where.
  spdlog::info("tunnel closed user={} streams={} bytes_in={} bytes_out={} seconds={}", user.name, c.streams_opened,
               c.bytes_in, c.bytes_out, seconds);
}

std::string Server::render_metrics() const {
  LiveTunnels live;
  live.open = tunnels_.size();
  for (const auto& [t, info] : tunnels_) {
    live.streams_open += t->stream_count();
    live.streams_opened += t->counters().streams_opened;
    live.bytes_in += t->counters().bytes_in;
    live.bytes_out += t->counters().bytes_out;
  }
  live.buffered_bytes = mux::buffered_bytes();
  return culvert::render_metrics(metrics_, live);
}

asio::awaitable<void> Server::handle_association(std::unique_ptr<mux::Stream> association, std::string user) {
  try {
    auto& held = udp_associations_[user];
    std::erase_if(held, [](mux::Stream* s) { return s->is_closed(); });
    if (held.size() >= config_.max_udp_associations_per_user) {
      ++metrics_.udp_associations_refused_total;
      association->reset(mux::ResetReason::refused);
      if (held.empty()) udp_associations_.erase(user);
      co_return;
    }
    held.push_back(association.get());
    // Unregistered however the relay ends (the map may rehash meanwhile: look the user up again).
    struct Registration {
      Server& server;
      const std::string& user;
      mux::Stream* stream;
      ~Registration() {
        --server.metrics_.udp_associations_open;
        if (auto it = server.udp_associations_.find(user); it != server.udp_associations_.end()) {
          std::erase(it->second, stream);
          if (it->second.empty()) server.udp_associations_.erase(it);
        }
      }
    } registration{*this, user, association.get()};
    ++metrics_.udp_associations_total;
    ++metrics_.udp_associations_open;
    UdpRelayOptions options{config_.allow_private, config_.udp_idle_timeout, dns_resolver_};
    auto counters = co_await relay_udp(*association, options);
    metrics_.udp_datagrams_dropped_total += counters.dropped;
    spdlog::debug("udp association closed sent={} received={} dropped={}", counters.sent, counters.received,
                  counters.dropped);
  } catch (const std::exception& e) {
    spdlog::error("udp association failed: {}", e.what());
  }
}

asio::awaitable<void> Server::handle_stream(std::unique_ptr<mux::Stream> stream, Destination destination) {
  try {
    DialOptions options{config_.allow_private, config_.connect_timeout, {}};
    if (!config_.dns_resolver.empty() && dns_resolver_) {
      // Streams' names are resolved where clients' DNS datagrams go: the configured resolver.
      options.resolve = [resolver = *dns_resolver_, limit = config_.connect_timeout](const std::string& name) {
        return lookup_name(resolver, name, limit);
      };
    }
    auto started = std::chrono::steady_clock::now();
    auto socket = co_await dial(destination, options);
    if (!socket) {
      if (socket.error() == Errc::destination_refused) {
        ++metrics_.dial_refused_total;
      } else if (socket.error() == Errc::timed_out) {
        ++metrics_.dial_timeout_total;
      } else {
        ++metrics_.dial_failed_total;
      }
      spdlog::debug("dial {} failed: {}", destination.to_string(), socket.error().message());
      stream->reset(reset_reason_for(socket.error()));
      co_return;
    }
    metrics_.dial_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("stream {} -> {}", stream->id(), destination.to_string());
    // The relay gets a small coroutine of its own; this frame (destination, dial state) ends here.
    spawn_relay(io_.get_executor(), std::move(stream), std::make_unique<TcpStream>(std::move(*socket)),
                config_.stream_idle_timeout);
  } catch (const std::exception& e) {
    spdlog::error("stream handler failed: {}", e.what());
  }
}

}  // namespace culvert
