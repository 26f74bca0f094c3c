#include "lab/relay.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>
#include <fstream>

#include "core/await.h"
#include "core/tcp_stream.h"

namespace culvert::lab {

struct Relay::Connection {
  std::uint64_t id = 0;
  std::string client_address;
  asio::ip::tcp::socket client;
  asio::ip::tcp::socket server;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_activity = started;
  Flow flow;
  std::size_t recorded[2] = {0, 0};
  std::uint64_t bytes[2] = {0, 0};
  bool first_packet_seen = false;
  bool dropping = false;  // client-to-server bytes are discarded
  std::string action = "none";
  std::string action_reason;
  std::optional<Classification> final;

  Connection(asio::ip::tcp::socket c, asio::ip::tcp::socket s) : client(std::move(c)), server(std::move(s)) {}
};

namespace {

void abort_with_rst(asio::ip::tcp::socket& s) {
  std::error_code ignored;
  s.set_option(asio::socket_base::linger(true, 0), ignored);
  s.close(ignored);
}

}  // namespace

Relay::Relay(asio::io_context& io, RelayOptions options)
    : io_(io),
      options_(std::move(options)),
      acceptor_(io),
      random_(options_.seed ? options_.seed : std::random_device{}()) {}

Result<void> Relay::start(std::string& message) {
  std::string host;
  std::uint16_t port = 0;
  std::error_code ec;
  if (!split_host_port(options_.to, host, port)) {
    message = "--to must be HOST:PORT with an IP address";
    return fail(Errc::bad_config);
  }
  auto to_address = asio::ip::make_address(host, ec);
  if (ec) {
    message = "--to must be an IP address";
    return fail(Errc::bad_config);
  }
  upstream_ = {to_address, port};
  if (auto listening = listen_on(acceptor_, options_.listen, message); !listening) return listening;
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

void Relay::stop() {
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> Relay::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (stopping_) co_return;
    if (ec) continue;
    asio::co_spawn(io_, handle(std::move(socket), next_id_++), asio::detached);
  }
}

bool Relay::decide_block(const Classification& c, std::string& why) {
  for (const auto& v : c.verdicts) {
    if (v.outcome != Outcome::block) continue;
    if (v.rule == "fully-encrypted") {
      std::bernoulli_distribution blocked(options_.block_probability);
      if (!blocked(random_)) continue;
    }
    why = v.rule;
    return true;
  }
  return false;
}

asio::awaitable<void> Relay::pump(Connection& c, bool client_to_server) {
  auto& from = client_to_server ? c.client : c.server;
  auto& to = client_to_server ? c.server : c.client;
  int d = client_to_server ? 0 : 1;
  std::vector<std::uint8_t> buffer(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer), use_tuple);
    if (n > 0) {
      auto now = std::chrono::steady_clock::now();
      c.last_activity = now;
      c.bytes[d] += n;
      if (c.recorded[d] < options_.max_recorded_bytes) {
        std::size_t keep = std::min(n, options_.max_recorded_bytes - c.recorded[d]);
        c.flow.push_back(
            {client_to_server ? Direction::client_to_server : Direction::server_to_client,
             static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - c.started).count()),
             Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(keep))});
        c.recorded[d] += keep;
      }
      if (client_to_server && !c.first_packet_seen) {
        // The inline decision, on the first data-carrying client packet, as the GFW makes it.
        c.first_packet_seen = true;
        auto first =
            classify_first_packet_rules(ByteSpan(buffer.data(), n), ByteSpan(buffer.data(), n), options_.classifier);
        std::string why;
        if (options_.action != BlockAction::observe && decide_block(first, why)) {
          c.action_reason = why;
          if (options_.residual.count() > 0) {
            std::error_code ignored;
            auto peer = c.client.remote_endpoint(ignored);
            if (!ignored) residual_until_[peer.address()] = now + options_.residual;
          }
          if (options_.action == BlockAction::reset) {
            c.action = "reset";
            abort_with_rst(c.client);
            abort_with_rst(c.server);
            co_return;
          }
          c.action = "drop";
          c.dropping = true;
        }
      }
      if (client_to_server && c.dropping) continue;
      auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buffer.data(), n), use_tuple);
      if (wec) {
        std::error_code ignored;
        from.close(ignored);
        co_return;
      }
    }
    if (ec == asio::error::eof) {
      std::error_code ignored;
      // A dropped connection ends when the client gives up; the server never heard from it.
      if (c.dropping && client_to_server) {
        to.close(ignored);
      } else {
        to.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      }
      co_return;
    }
    if (ec) {
      std::error_code ignored;
      to.close(ignored);
      co_return;
    }
  }
}

asio::awaitable<void> Relay::handle(asio::ip::tcp::socket client, std::uint64_t id) {
  using namespace asio::experimental::awaitable_operators;
  std::error_code ec;
  auto peer = client.remote_endpoint(ec);
  Connection c(std::move(client), asio::ip::tcp::socket(io_));
  c.id = id;
  if (!ec) c.client_address = peer.address().to_string() + ":" + std::to_string(peer.port());
  // Residual censorship: the client is still blocked from an earlier detection.
  if (!ec) {
    auto it = residual_until_.find(peer.address());
    if (it != residual_until_.end() && std::chrono::steady_clock::now() < it->second) {
      c.action = options_.action == BlockAction::reset ? "residual-reset" : "residual-drop";
      if (options_.action == BlockAction::reset) {
        abort_with_rst(c.client);
      } else {
        // Dropped: the client's bytes go nowhere until it gives up or the idle limit passes.
        asio::steady_timer limit(io_);
        limit.expires_after(options_.idle);
        std::uint8_t sink[4096];
        for (;;) {
          auto r = co_await (c.client.async_read_some(asio::buffer(sink), use_tuple) || limit.async_wait(use_tuple));
          if (r.index() == 1 || std::get<0>(std::get<0>(r))) break;
        }
        c.client.close(ec);
      }
      report(c);
      co_return;
    }
  }
  auto [cec] = co_await c.server.async_connect(upstream_, use_tuple);
  if (cec) {
    c.action = "upstream-unreachable";
    c.client.close(ec);
    report(c);
    co_return;
  }
  asio::steady_timer idle(io_);
  auto watch = [&]() -> asio::awaitable<void> {
    for (;;) {
      idle.expires_at(c.last_activity + options_.idle);
      co_await idle.async_wait(use_tuple);
      if (std::chrono::steady_clock::now() >= c.last_activity + options_.idle) co_return;
    }
  };
  co_await ((pump(c, true) && pump(c, false)) || watch());
  c.client.close(ec);
  c.server.close(ec);
  report(c);
}

void Relay::report(const Connection& c) {
  auto classification = classify(c.flow, options_.classifier);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - c.started).count();
  std::string line = "{\"conn\":" + std::to_string(c.id) + ",\"client\":\"" + json_escape(c.client_address) +
                     "\",\"duration_ms\":" + std::to_string(ms) + ",\"bytes_c2s\":" + std::to_string(c.bytes[0]) +
                     ",\"bytes_s2c\":" + std::to_string(c.bytes[1]) + ",\"action\":\"" + c.action + "\"";
  if (!c.action_reason.empty()) line += ",\"action_rule\":\"" + json_escape(c.action_reason) + "\"";
  line += ",\"classification\":" + classification.to_json() + "}\n";
  std::fputs(line.c_str(), options_.out);
  std::fflush(options_.out);
  if (!options_.record_dir.empty()) {
    std::ofstream(options_.record_dir + "/conn-" + std::to_string(c.id) + ".flow") << format_flow(c.flow);
  }
}

}  // namespace culvert::lab
