#include "client/tunnel_pool.h"

#include "cover/h2.h"
#include "transport/tls/cover_answer_check.h"
#include "transport/tls/drop_prefix_stream.h"

#include "core/congestion.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include "core/await.h"

#include "crypto/crypto.h"
#include "transport/tls/auth.h"

namespace culvert {

TunnelPool::TunnelPool(asio::any_io_executor executor, ShareLink link, TunnelPoolOptions options)
    : executor_(std::move(executor)), link_(std::move(link)), options_(options), dial_done_(executor_) {
  tls_config_.server_name = link_.sni;
  if (link_.transport == "borrow" && link_.server_key) {
    // The borrowed site's name goes in the SNI; the server proves itself through the key schedule.
    tls_config_.borrow = tls13::BorrowCredentials{*link_.server_key, link_.credential.key_id, link_.credential.secret};
  } else {
    auto verifier = tls13::CertificateVerifier::create({link_.sni.empty() ? link_.host : link_.sni, link_.pin});
    if (verifier) tls_config_.verifier = std::move(*verifier);
  }
}

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
  using namespace asio::experimental::awaitable_operators;
  if (!tls_config_.verifier && !tls_config_.borrow) co_return fail(Errc::tls_failed);
  auto now = std::chrono::steady_clock::now();
  if (now < next_dial_allowed_) {
    asio::steady_timer wait(executor_, next_dial_allowed_);
    co_await wait.async_wait(use_tuple);
  }
  std::string server = link_.host + ":" + std::to_string(link_.port);
  auto failed = [this, &server](std::error_code e, std::string why = {}) {
    ++consecutive_failures_;
    auto base = std::chrono::milliseconds(100) * (1 << std::min(consecutive_failures_ - 1, 4));
    auto delay = std::min<std::chrono::milliseconds>(base, std::chrono::milliseconds(1000));
    delay =
        delay / 2 + std::chrono::milliseconds(crypto::random_below(static_cast<std::uint32_t>(delay.count() / 2 + 1)));
    next_dial_allowed_ = std::chrono::steady_clock::now() + delay;
    if (why.empty()) why = e.message();
    spdlog::warn("cannot reach the server {}: {} (retry in {} ms)", server, why, delay.count());
    return fail(e);
  };

  asio::steady_timer deadline(executor_);
  deadline.expires_after(options_.connect_timeout);
  asio::ip::tcp::resolver resolver(executor_);
  auto resolved = co_await (resolver.async_resolve(link_.host, std::to_string(link_.port), use_tuple) ||
                            deadline.async_wait(use_tuple));
  if (resolved.index() == 1) co_return failed(make_error_code(Errc::timed_out), "looking up its name timed out");
  auto [rec, results] = std::get<0>(resolved);
  if (rec) co_return failed(make_error_code(Errc::dial_failed), "cannot resolve its name (" + rec.message() + ")");

  asio::ip::tcp::socket socket(executor_);
  auto connected = co_await (asio::async_connect(socket, results, use_tuple) || deadline.async_wait(use_tuple));
  if (connected.index() == 1) co_return failed(make_error_code(Errc::timed_out), "connecting timed out");
  if (auto cec = std::get<0>(std::get<0>(connected)))
    co_return failed(make_error_code(Errc::dial_failed), "cannot connect (" + cec.message() + ")");
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  limit_unsent(socket.native_handle(), kTunnelUnsentLimit);

  auto stream = std::make_unique<tls13::ClientStream>(std::move(socket), tls_config_);
  auto hs = co_await (stream->handshake() || deadline.async_wait(use_tuple));
  if (hs.index() == 1) co_return failed(make_error_code(Errc::timed_out), "the TLS handshake timed out");
  if (auto ec = std::get<0>(hs)) {
    if (ec == Errc::pin_mismatch)
      co_return failed(ec,
                       "its certificate is not the one pinned in the link (a different server, or an "
                       "interception)");
    if (ec == Errc::untrusted_certificate)
      co_return failed(ec, "its certificate is not trusted: " + tls_config_.verifier->last_failure() +
                               " (a link without a pin checks the CA chain and the name)");
    if (tls_config_.borrow)
      // The borrowed site itself answered: the server passed this client on as a stranger.
      co_return failed(make_error_code(Errc::auth_failed),
                       "the handshake was answered by the borrowed site itself: the server did not accept this link "
                       "(revoked, expired, over quota, or a wrong key)");
    co_return failed(make_error_code(Errc::tls_failed), "the TLS handshake failed (" + ec.message() + ")");
  }
  auto exporter = stream->export_key(tls::kExporterLabel);
  if (!exporter) co_return failed(make_error_code(Errc::tls_failed));
  bool h2_cover = !tls_config_.borrow && stream->summary().alpn == "h2";
  ByteStreamPtr carrier = std::move(stream);
  // The tls transport's server speaks as nginx with HTTP/2 would: its tunnels start with the
  // cover's SETTINGS and WINDOW_UPDATE (cover/h2.h), which are not for the mux.
  if (h2_cover) {
    auto preface = cover::h2_server_preface();
    carrier = std::make_unique<tls::DropPrefixStream>(std::move(carrier), Bytes(preface.begin(), preface.end()));
  }
  // A server that does not accept the link answers as its cover site: say so (auth_failed).
  if (!tls_config_.borrow) carrier = std::make_unique<tls::CoverAnswerCheck>(std::move(carrier));

  mux::SessionOptions options;
  options.is_client = true;
  options.keepalive_interval = options_.keepalive_interval;
  options.dead_after = options_.dead_after;
  options.padding = options_.padding;
  auto session = mux::Session::create(executor_, std::move(carrier), options);
  session->prefix_output(tls::make_preamble(link_.credential, *exporter, mux::kVersion));
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
