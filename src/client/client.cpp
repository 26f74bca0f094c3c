#include "client/client.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include "core/await.h"

#include "core/tcp_stream.h"

namespace culvert {

Client::Client(asio::io_context& io, ShareLink link, ClientOptions options)
    : io_(io), options_(std::move(options)), pool_(io.get_executor(), std::move(link), options_.pool), acceptor_(io) {}

Result<void> Client::start(std::string& message) {
  if (auto listening = listen_on(acceptor_, options_.listen, message); !listening) return listening;
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

void Client::stop() {
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  pool_.close_all();
}

asio::awaitable<Result<ByteStreamPtr>> Client::open_stream(const Destination& destination, ByteSpan first_data) {
  // Copy: the caller's buffer may not outlive the awaits below.
  Bytes first(first_data.begin(), first_data.end());
  auto tunnel = co_await pool_.acquire();
  if (!tunnel) co_return fail(tunnel.error());
  auto stream = (*tunnel)->open(destination, first);
  if (!stream) co_return fail(stream.error());
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("stream {} -> {}", (*stream)->id(), destination.to_string());
  co_return ByteStreamPtr(std::move(*stream));
}

asio::awaitable<void> Client::accept_loop() {
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (stopping_) co_return;
    if (ec) {
      spdlog::warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    auto opener = [this](const Destination& d, ByteSpan first) { return open_stream(d, first); };
    asio::co_spawn(io_, serve_inbound(std::move(socket), opener, options_.inbound), asio::detached);
  }
}

}  // namespace culvert
