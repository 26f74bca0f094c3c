#include "client/tunnel_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>

#include "core/await.h"
#include "core/congestion_watch.h"
#include "crypto/crypto.h"
#include "transport/registry.h"
#include "transport/tls/auth.h"

namespace culvert {

TunnelPool::TunnelPool(asio::any_io_executor executor, ShareLink link, TunnelPoolOptions options)
    : executor_(std::move(executor)),
      link_(std::move(link)),
      options_(options),
      dialer_(make_dialer(executor_, link_, mux::kVersion)),
      dial_done_(executor_) {}
std::shared_ptr<mux::Session> TunnelPool::pick() const {
  std::shared_ptr<mux::Session> best;
  for (const auto& t : tunnels_) {
    if (!t->accepting()) continue;  // closed, or its server is draining
    if (!best || t->stream_count() < best->stream_count()) best = t;
  }
  return best;
}

asio::awaitable<Result<std::shared_ptr<mux::Session>>> TunnelPool::acquire() {
  if (tunnels_.empty() && std::chrono::steady_clock::now() < rejected_until_) co_return fail(Errc::auth_failed);
  for (;;) {
    auto best = pick();
    bool want_more =
        !best || (best->stream_count() >= options_.streams_per_tunnel && tunnels_.size() < options_.max_tunnels);
    if (!want_more) co_return best;
    if (dialing_) {
      // Another request is dialing: use an existing tunnel if it has room, else wait for the dial
      // (a burst of thousands of new streams must spill into the new tunnel, not fail).
      if (best && !best->at_capacity()) co_return best;
      co_await dial_done_.wait();
      if (!pick()) co_return fail(Errc::tunnel_closed);
      continue;
    }
    dialing_ = true;
    auto dialed = co_await dial_tunnel();
    dialing_ = false;
    dial_done_.notify();
    if (!dialed) {
      if (best) co_return best;
      co_return fail(dialed.error());
    }
    co_return *dialed;
  }
}

asio::awaitable<Result<std::shared_ptr<mux::Session>>> TunnelPool::dial_tunnel() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_dial_allowed_) {
    asio::steady_timer wait(executor_, next_dial_allowed_);
    co_await wait.async_wait(use_tuple);
  }
  std::string server = dialer_->describe();
  std::string why;
  auto dialed = co_await dialer_->dial(std::chrono::steady_clock::now() + options_.connect_timeout, why);
  if (!dialed) {
    ++consecutive_failures_;
    auto base = std::chrono::milliseconds(100) * (1 << std::min(consecutive_failures_ - 1, 4));
    auto delay = std::min<std::chrono::milliseconds>(base, std::chrono::milliseconds(1000));
    delay =
        delay / 2 + std::chrono::milliseconds(crypto::random_below(static_cast<std::uint32_t>(delay.count() / 2 + 1)));
    next_dial_allowed_ = std::chrono::steady_clock::now() + delay;
    if (why.empty()) why = dialed.error().message();
    spdlog::warn("cannot reach the server {}: {} (retry in {} ms)", server, why, delay.count());
    // A server that refused the link refuses it again: requests fail fast for a while.
    if (dialed.error() == Errc::auth_failed)
      rejected_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    co_return fail(dialed.error());
  }

  mux::SessionOptions options;
  options.is_client = true;
  options.keepalive_interval = options_.keepalive_interval;
  options.dead_after = options_.dead_after;
  options.padding = options_.padding;
  // Uploads: this side sends; tended as the server tends downloads (core/congestion_watch.h).
  if (int fd = dialed->socket_fd; fd >= 0)
    options.before_write = [watch = std::make_shared<CongestionWatch>(fd)](bool waited) { watch->on_write(waited); };
  auto session = mux::Session::create(executor_, std::move(dialed->stream), options);
  // The user's proof over the transport's binding; a transport that proved the user in its own
  // handshake (cdn) has none and sends none.
  if (dialed->binding) session->prefix_output(tls::make_preamble(link_.credential, *dialed->binding, mux::kVersion));
  tunnels_.push_back(session);
  consecutive_failures_ = 0;
  std::weak_ptr<mux::Session> weak = session;
  session->set_closed_handler([this, weak, server](std::error_code reason) {
    auto s = weak.lock();
    tunnels_.erase(std::remove(tunnels_.begin(), tunnels_.end(), s), tunnels_.end());
    if (reason == Errc::auth_failed) {
      // Retrying at once would only be refused again: requests fail fast for a while, with a reason.
      rejected_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      spdlog::warn("the server {} did not accept this link (revoked, expired, over quota, or a wrong key)", server);
      return;
    }
    spdlog::info("tunnel closed: {}", reason.message());
  });
  asio::co_spawn(executor_, session->run(), asio::detached);
  spdlog::info("tunnel open ({} total)", tunnels_.size());
  co_return session;
}

void TunnelPool::close_all() {
  auto tunnels = tunnels_;
  for (auto& t : tunnels) t->close(make_error_code(Errc::tunnel_closed));
  tunnels_.clear();
}

}  // namespace culvert
