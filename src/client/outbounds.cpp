#include "client/outbounds.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "core/await.h"

namespace culvert {
namespace {

struct HttpTarget {
  Destination destination;
  std::string request;
};

// http://host[:port]/path -> where to connect and the request to send.
std::optional<HttpTarget> http_target(const std::string& url) {
  if (!url.starts_with("http://")) return std::nullopt;
  auto rest = std::string_view(url).substr(7);
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string host(authority);
  std::uint16_t port = 80;
  if (auto colon = authority.rfind(':');
      colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    port = static_cast<std::uint16_t>(std::stoi(std::string(authority.substr(colon + 1))));
  }
  auto destination = make_destination(host, port);
  if (!destination) return std::nullopt;
  return HttpTarget{*destination, "GET " + path + " HTTP/1.1\r\nHost: " + std::string(authority) +
                                      "\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"};
}

}  // namespace

Outbounds::Outbounds(asio::any_io_executor executor, const ClientConfig& config, TunnelPoolOptions pool_options)
    : executor_(std::move(executor)) {
  for (const auto& entry : config.servers) {
    servers_.push_back(Server{entry.name,
                              std::make_unique<TunnelPool>(executor_, entry.link, pool_options),
                              true,
                              {},
                              format_share_link(entry.link)});
  }
  pool_options_ = pool_options;
  for (const auto& g : config.groups) {
    Group group{g, {}, 0};
    for (const auto& member : g.servers) {
      auto it = std::find_if(servers_.begin(), servers_.end(), [&](const Server& s) { return s.name == member; });
      group.members.push_back(static_cast<std::size_t>(it - servers_.begin()));
    }
    group.current = group.members.empty() ? 0 : group.members.front();
    if (g.kind == GroupConfig::Kind::select) {
      auto it = std::find(g.servers.begin(), g.servers.end(), g.selected);
      group.current = group.members[static_cast<std::size_t>(it - g.servers.begin())];
    }
    groups_.push_back(std::move(group));
  }
}

void Outbounds::start() {
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    if (groups_[i].config.kind == GroupConfig::Kind::select) continue;
    asio::co_spawn(executor_, health_loop(i), asio::detached);
  }
}

void Outbounds::stop() {
  stopping_ = true;
  for (auto& timer : timers_) timer->cancel();
  for (auto& server : servers_) server.pool->close_all();
}

std::vector<std::size_t> Outbounds::candidates(const Group& group) const {
  if (group.members.empty()) return {};
  if (group.config.kind == GroupConfig::Kind::select) return {group.current};
  // The current choice, then the other healthy members, then the ones marked down (they may be
  // back before the next check says so).
  std::vector<std::size_t> order{group.current};
  for (bool healthy : {true, false})
    for (auto m : group.members)
      if (m != group.current && servers_[m].healthy == healthy) order.push_back(m);
  return order;
}

void Outbounds::choose(Group& group) {
  if (group.members.empty()) return;
  auto before = group.current;
  if (group.config.kind == GroupConfig::Kind::fallback) {
    auto it = std::find_if(group.members.begin(), group.members.end(), [&](auto m) { return servers_[m].healthy; });
    group.current = it == group.members.end() ? group.members.front() : *it;
  } else if (group.config.kind == GroupConfig::Kind::url_test) {
    std::optional<std::size_t> best;
    for (auto m : group.members) {
      const auto& s = servers_[m];
      if (!s.healthy || !s.latency) continue;
      if (!best || *s.latency < *servers_[*best].latency) best = m;
    }
    const auto& now = servers_[group.current];
    if (best) {
      bool current_fine = now.healthy && now.latency;
      if (!current_fine || *servers_[*best].latency + group.config.tolerance < *now.latency) group.current = *best;
    } else if (!now.healthy) {
      auto it = std::find_if(group.members.begin(), group.members.end(), [&](auto m) { return servers_[m].healthy; });
      if (it != group.members.end()) group.current = *it;
    }
  }
  if (group.current != before)
    spdlog::info("group {} now uses server {}", group.config.name, servers_[group.current].name);
}

asio::awaitable<Result<std::shared_ptr<mux::Session>>> Outbounds::acquire(const std::string& name) {
  for (auto& server : servers_) {
    if (server.name != name) continue;
    co_return co_await server.pool->acquire();
  }
  // (Groups are looked up by name below; a subscription's group with no servers yet fails.)
  for (auto& group : groups_) {
    if (group.config.name != name) continue;
    std::error_code last = make_error_code(Errc::tunnel_closed);
    for (auto index : candidates(group)) {
      auto& server = servers_[index];
      auto tunnel = co_await server.pool->acquire();
      if (tunnel) {
        if (!server.healthy) {
          server.healthy = true;
          choose(group);
        }
        co_return tunnel;
      }
      last = tunnel.error();
      if (server.healthy) {
        server.healthy = false;
        spdlog::warn("server {} unreachable ({}); group {} moves on", server.name, last.message(), group.config.name);
        for (auto& g : groups_) choose(g);
      }
    }
    if (on_group_down) on_group_down(group.config.name);
    co_return fail(last);
  }
  co_return fail(Errc::bad_config);
}

std::size_t Outbounds::set_group_servers(const std::string& name, const std::vector<ServerEntry>& entries) {
  auto group = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) { return g.config.name == name; });
  if (group == groups_.end()) return 0;
  std::vector<std::size_t> members;
  std::size_t fresh = 0;
  for (const auto& entry : entries) {
    std::string link = format_share_link(entry.link);
    std::string server_name = name + "/" + entry.name;
    // The same link keeps its pool (and its tunnels and streams).
    auto it = std::find_if(group->members.begin(), group->members.end(),
                           [&](std::size_t m) { return servers_[m].link == link; });
    if (it != group->members.end()) {
      servers_[*it].name = server_name;
      members.push_back(*it);
      continue;
    }
    servers_.push_back(
        Server{server_name, std::make_unique<TunnelPool>(executor_, entry.link, pool_options_), true, {}, link});
    members.push_back(servers_.size() - 1);
    ++fresh;
  }
  // Servers no longer listed keep carrying their open streams; they are just not chosen again.
  for (auto m : group->members)
    if (std::find(members.begin(), members.end(), m) == members.end()) servers_[m].name += " (removed)";
  group->members = std::move(members);
  if (std::find(group->members.begin(), group->members.end(), group->current) == group->members.end())
    group->current = group->members.empty() ? 0 : group->members.front();
  choose(*group);
  return fresh;
}

asio::awaitable<Result<std::unique_ptr<mux::Stream>>> Outbounds::open_datagram(const std::string& name) {
  auto tunnel = co_await acquire(name);
  if (!tunnel) co_return fail(tunnel.error());
  co_return (*tunnel)->open_datagram();
}

asio::awaitable<std::optional<std::chrono::milliseconds>> Outbounds::check(Server& server, const GroupConfig& group) {
  using namespace asio::experimental::awaitable_operators;
  auto target = http_target(group.url);
  if (!target) co_return std::nullopt;
  auto started = std::chrono::steady_clock::now();
  asio::steady_timer deadline(executor_);
  deadline.expires_after(group.timeout);
  auto attempt = [&]() -> asio::awaitable<bool> {
    auto tunnel = co_await server.pool->acquire();
    if (!tunnel) co_return false;
    Bytes request(target->request.begin(), target->request.end());
    auto stream = (*tunnel)->open(target->destination, request);
    if (!stream) co_return false;
    std::uint8_t head[16];
    auto [ec, n] = co_await (*stream)->read_some(asio::buffer(head));
    co_return !ec && n >= 5 && std::string_view(reinterpret_cast<char*>(head), 5) == "HTTP/";
  };
  auto result = co_await (attempt() || deadline.async_wait(use_tuple));
  if (result.index() != 0 || !std::get<0>(result)) co_return std::nullopt;
  co_return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

asio::awaitable<void> Outbounds::health_loop(std::size_t index) {
  timers_.push_back(std::make_unique<asio::steady_timer>(executor_));
  auto& timer = *timers_.back();
  while (!stopping_) {
    auto members = groups_[index].members;  // a subscription may replace them meanwhile
    for (auto member : members) {
      if (stopping_) co_return;
      auto& server = servers_[member];
      auto latency = co_await check(server, groups_[index].config);
      bool was = server.healthy;
      server.healthy = latency.has_value();
      if (latency) server.latency = latency;
      if (was != server.healthy)
        spdlog::info("server {} is {}", server.name, server.healthy ? "reachable again" : "unreachable");
      spdlog::debug("health check {}: {}", server.name, latency ? std::to_string(latency->count()) + " ms" : "failed");
    }
    for (auto& g : groups_) choose(g);
    timer.expires_after(groups_[index].config.interval);
    co_await timer.async_wait(use_tuple);
  }
}

}  // namespace culvert
