// TunnelPool: the client's few tunnels to one server, dialed by the link's transport
// (transport/registry.h) and each carrying a mux session. Streams go to the least-loaded open
// tunnel; a new tunnel is dialed when none is open or all are busy. Failed dials back off
// (100 ms doubling to 1 s, with jitter) so a down server is not hammered, and the pool heals by
// itself when the server comes back: the next request dials again.
// Thread model: one single-threaded io_context. The pool must outlive its tunnels' coroutines
// (it is owned by the Client, which lives as long as the process).
#pragma once

#include <asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "core/signal.h"
#include "link/share_link.h"
#include "mux/session.h"
#include "transport/dialer.h"

namespace culvert {

struct TunnelPoolOptions {
  std::size_t max_tunnels = 4;
  std::size_t streams_per_tunnel = 128;  // open another tunnel past this (if under max_tunnels)
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds keepalive_interval{15000};
  std::chrono::milliseconds dead_after{30000};
  mux::PaddingPolicy padding = mux::PaddingPolicy::client_default();
};

class TunnelPool {
 public:
  TunnelPool(asio::any_io_executor executor, ShareLink link, TunnelPoolOptions options);

  // Returns an open tunnel, dialing one if needed. Errors when the server cannot be reached.
  asio::awaitable<Result<std::shared_ptr<mux::Session>>> acquire();
  void close_all();
  std::size_t open_tunnels() const { return tunnels_.size(); }

 private:
  asio::awaitable<Result<std::shared_ptr<mux::Session>>> dial_tunnel();
  std::shared_ptr<mux::Session> pick() const;

  asio::any_io_executor executor_;
  ShareLink link_;
  TunnelPoolOptions options_;
  std::unique_ptr<TunnelDialer> dialer_;
  std::vector<std::shared_ptr<mux::Session>> tunnels_;
  bool dialing_ = false;
  Signal dial_done_;
  int consecutive_failures_ = 0;
  std::chrono::steady_clock::time_point next_dial_allowed_{};
  std::chrono::steady_clock::time_point rejected_until_{};  // the server refused the link: fail fast
};

}  // namespace culvert
