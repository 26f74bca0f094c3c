#include "client/dns_server.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "core/await.h"
#include "core/tcp_stream.h"
#include "crypto/crypto.h"
#include "dns/message.h"

namespace culvert {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr std::size_t kMaxInFlight = 1024;  // queries being resolved at once; more are answered SERVFAIL

}  // namespace

DnsServer::DnsServer(asio::any_io_executor executor, Dispatcher& dispatcher, DnsConfig config)
    : executor_(executor),
      dispatcher_(dispatcher),
      config_(std::move(config)),
      udp_(executor),
      tcp_(executor),
      cache_(config_.cache_size) {}

Result<void> DnsServer::start(std::string& message) {
  std::string host;
  std::uint16_t port = 0;
  std::error_code ec;
  split_host_port(config_.direct_resolver, host, port);
  direct_resolver_ = asio::ip::udp::endpoint(asio::ip::make_address(host, ec), port);
  if (ec) {
    message = "dns.direct_resolver must be an IP address and port";
    return fail(Errc::bad_config);
  }
  if (auto listening = listen_on(tcp_, config_.listen, message); !listening) return listening;
  auto endpoint = tcp_.local_endpoint();
  udp_.open(endpoint.address().is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
  if (!ec) udp_.bind(asio::ip::udp::endpoint(endpoint.address(), endpoint.port()), ec);
  if (ec) {
    message = "cannot bind DNS (UDP) on " + config_.listen + ": " + ec.message();
    return fail(ec);
  }
  asio::co_spawn(executor_, udp_loop(), asio::detached);
  asio::co_spawn(executor_, tcp_accept_loop(), asio::detached);
  return {};
}

void DnsServer::stop() {
  stopping_ = true;
  std::error_code ignored;
  udp_.close(ignored);
  tcp_.close(ignored);
}

asio::awaitable<void> DnsServer::udp_loop() {
  std::vector<std::uint8_t> buffer(65536);
  while (!stopping_) {
    asio::ip::udp::endpoint from;
    auto [ec, n] = co_await udp_.async_receive_from(asio::buffer(buffer), from, use_tuple);
    if (stopping_ || ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    Bytes query(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    asio::co_spawn(executor_, answer_udp(std::move(query), from), asio::detached);
  }
}

asio::awaitable<void> DnsServer::answer_udp(Bytes query, asio::ip::udp::endpoint from) {
  try {
    auto response = co_await answer(std::move(query));
    if (response.empty() || stopping_) co_return;
    // Over UDP an answer larger than 512 bytes is fine for EDNS clients and the loopback; clients
    // that need TCP ask again over TCP, which this server also answers.
    std::error_code ec;
    udp_.send_to(asio::buffer(response), from, 0, ec);
  } catch (const std::exception& e) {
    spdlog::error("dns query failed: {}", e.what());
  }
}

asio::awaitable<void> DnsServer::tcp_accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await tcp_.async_accept(use_tuple);
    if (stopping_) co_return;
    if (ec) continue;
    asio::co_spawn(executor_, tcp_session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> DnsServer::tcp_session(asio::ip::tcp::socket socket) {
  try {
    asio::steady_timer idle(executor_);
    for (;;) {
      // RFC 7766: two-byte length, then the message; an idle connection is closed after 10 s.
      std::uint8_t length[2];
      idle.expires_after(std::chrono::seconds(10));
      auto got = co_await (asio::async_read(socket, asio::buffer(length), use_tuple) || idle.async_wait(use_tuple));
      if (got.index() != 0 || std::get<0>(std::get<0>(got))) co_return;
      std::size_t size = std::size_t(length[0]) << 8 | length[1];
      if (size < dns::kHeaderSize) co_return;
      Bytes query(size);
      idle.expires_after(std::chrono::seconds(10));
      auto body = co_await (asio::async_read(socket, asio::buffer(query), use_tuple) || idle.async_wait(use_tuple));
      if (body.index() != 0 || std::get<0>(std::get<0>(body))) co_return;
      auto response = co_await answer(std::move(query));
      if (response.empty() || response.size() > 65535) co_return;
      std::array<std::uint8_t, 2> prefix{static_cast<std::uint8_t>(response.size() >> 8),
                                         static_cast<std::uint8_t>(response.size())};
      std::array<asio::const_buffer, 2> framed{asio::buffer(prefix), asio::buffer(response)};
      auto [ec, n] = co_await asio::async_write(socket, framed, use_tuple);
      if (ec) co_return;
    }
  } catch (const std::exception& e) {
    spdlog::error("dns connection failed: {}", e.what());
  }
}

asio::awaitable<Bytes> DnsServer::answer(Bytes query) {
  ++counters_.queries;
  auto question = dns::parse_query(query);
  if (!question) co_return dns::make_error(query, dns::kRcodeFormErr);
  if (in_flight_ >= kMaxInFlight) co_return dns::make_response(query, *question, dns::kRcodeServFail, {}, 0);
  routing::Action action = dispatcher_.route_name(question->name, "dns");
  if (action.kind == routing::Action::Kind::block) {
    ++counters_.blocked;
    co_return dns::make_response(query, *question, dns::kRcodeNxDomain, {}, 0);
  }
  bool proxied = action.kind == routing::Action::Kind::proxy;
  if (proxied && dispatcher_.fake_ip() && question->klass == dns::kClassIn &&
      (question->type == dns::kTypeA || question->type == dns::kTypeAAAA)) {
    ++counters_.fake;
    std::vector<Bytes> addresses;
    if (question->type == dns::kTypeA) {
      auto fake = dispatcher_.fake_ip()->address_for(question->name).to_bytes();
      addresses.emplace_back(fake.begin(), fake.end());
    }
    // TTL 1: applications ask again soon, so a recycled fake address is never cached for long.
    co_return dns::make_response(query, *question, dns::kRcodeNoError, addresses, 1);
  }
  if (auto cached = cache_.find(*question)) {
    ++counters_.cached;
    co_return std::move(*cached);
  }
  // Upstream: a fresh id, so an off-path guess of the application's id gains nothing.
  Bytes upstream = query;
  std::uint16_t id = static_cast<std::uint16_t>(crypto::random_below(65536));
  dns::set_id(upstream, id);
  ++in_flight_;
  Result<Bytes> response = fail(Errc::dial_failed);
  if (proxied) {
    ++counters_.via_tunnel;
    response = co_await ask_tunnel(action.outbound, upstream);
  } else {
    ++counters_.direct;
    response = co_await ask_direct(upstream);
  }
  --in_flight_;
  if (response) {
    auto info = dns::parse_response(*response, *question);
    if (info && info->id == id) {
      cache_.store(*question, *response, *info);
      dns::set_id(*response, question->id);
      co_return std::move(*response);
    }
  }
  ++counters_.failed;
  co_return dns::make_response(query, *question, dns::kRcodeServFail, {}, 0);
}

asio::awaitable<Result<Bytes>> DnsServer::ask_direct(const Bytes& query) {
  asio::ip::udp::socket socket(executor_);
  std::error_code ec;
  socket.open(direct_resolver_.protocol(), ec);
  if (ec) co_return fail(ec);
  socket.connect(direct_resolver_, ec);  // only the resolver's answers reach a connected socket
  if (ec) co_return fail(ec);
  asio::steady_timer deadline(executor_);
  deadline.expires_after(config_.timeout);
  std::vector<std::uint8_t> buffer(65536);
  // Two tries within the timeout: UDP to a resolver abroad or at home loses packets too.
  for (int attempt = 0; attempt < 2; ++attempt) {
    socket.send(asio::buffer(query), 0, ec);
    if (ec) co_return fail(ec);
    asio::steady_timer retry(executor_);
    retry.expires_after(config_.timeout / 2);
    for (;;) {
      auto got = co_await (socket.async_receive(asio::buffer(buffer), use_tuple) || retry.async_wait(use_tuple) ||
                           deadline.async_wait(use_tuple));
      if (got.index() == 1) break;  // ask again
      if (got.index() == 2) co_return fail(Errc::timed_out);
      auto [rec, n] = std::get<0>(got);
      if (rec) co_return fail(rec);
      if (n >= 2 && buffer[0] == query[0] && buffer[1] == query[1])
        co_return Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }
  co_return fail(Errc::timed_out);
}

asio::awaitable<Result<Bytes>> DnsServer::ask_tunnel(const std::string& outbound, const Bytes& query) {
  asio::steady_timer deadline(executor_);
  deadline.expires_after(config_.timeout);
  auto opened = co_await (dispatcher_.outbounds().open_datagram(outbound) || deadline.async_wait(use_tuple));
  if (opened.index() != 0) co_return fail(Errc::timed_out);
  auto association = std::move(std::get<0>(opened));
  if (!association) co_return fail(association.error());
  auto& stream = **association;
  Destination resolver{Destination::Kind::domain, std::string(mux::kTunnelResolverName), 53};
  if (!stream.send_datagram(resolver, query)) co_return fail(Errc::too_large);
  for (;;) {
    auto got = co_await (stream.receive_datagram() || deadline.async_wait(use_tuple));
    if (got.index() != 0) co_return fail(Errc::timed_out);
    auto datagram = std::move(std::get<0>(got));
    if (!datagram) co_return fail(datagram.error());
    if (datagram->payload.size() >= 2 && datagram->payload[0] == query[0] && datagram->payload[1] == query[1])
      co_return std::move(datagram->payload);
  }
}

}  // namespace culvert
