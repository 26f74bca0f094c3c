// Outbounds: the client's servers (one tunnel pool each) and groups of them. A rule's action
// names either; a group resolves to one of its servers at the time of each request:
//   fallback  the first healthy server, in the configured order
//   url-test  the healthy server with the lowest measured latency (switching only when another is
//             faster by more than the tolerance, so it does not flap)
//   select    the server the user chose (config `selected`)
// Health checks run through each server's tunnel (an HTTP GET of the group's URL; the status line
// must arrive within the timeout) every interval. A server that cannot be reached when a request
// needs it is marked down at once and the request moves on to the next server of the group.
// Thread model: one single-threaded executor. Owned by the Client; outlives its coroutines
// (stop() ends the health checks, then let the executor run).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/tunnel_pool.h"
#include "config/client_config.h"

namespace culvert {

class Outbounds {
 public:
  Outbounds(asio::any_io_executor executor, const ClientConfig& config, TunnelPoolOptions pool_options);

  void start();  // health checks of fallback and url-test groups
  void stop();

  // A tunnel of outbound `name`: of the server, or of the group's chosen server (moving on along
  // the group when one cannot be reached).
  asio::awaitable<Result<std::shared_ptr<mux::Session>>> acquire(const std::string& name);
  // A datagram association through outbound `name`.
  asio::awaitable<Result<std::unique_ptr<mux::Stream>>> open_datagram(const std::string& name);

  // Replaces the servers of group `group` (a subscription's). A server whose link did not change
  // keeps its tunnels; the others' tunnels carry their open streams to the end but take no new
  // ones. Returns how many servers are new.
  std::size_t set_group_servers(const std::string& group, const std::vector<ServerEntry>& servers);
  // Called when a request found no server of a group reachable.
  std::function<void(const std::string& group)> on_group_down;

 private:
  struct Server {
    std::string name;
    std::unique_ptr<TunnelPool> pool;
    bool healthy = true;  // optimistic until a check or a dial says otherwise
    std::optional<std::chrono::milliseconds> latency;
    std::string link;  // formatted, to tell a changed link from an unchanged one
  };
  struct Group {
    GroupConfig config;
    std::vector<std::size_t> members;  // indices into servers_
    std::size_t current = 0;           // index into servers_
  };

  std::vector<std::size_t> candidates(const Group& group) const;
  void choose(Group& group);
  asio::awaitable<void> health_loop(std::size_t group);
  asio::awaitable<std::optional<std::chrono::milliseconds>> check(Server& server, const GroupConfig& group);

  asio::any_io_executor executor_;
  TunnelPoolOptions pool_options_;
  std::deque<Server> servers_;  // a deque: coroutines hold references while servers are added
  std::vector<Group> groups_;
  std::vector<std::unique_ptr<asio::steady_timer>> timers_;
  bool stopping_ = false;
};

}  // namespace culvert
