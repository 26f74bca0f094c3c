#include "client/dispatcher.h"

#include <spdlog/spdlog.h>

#include "core/dialer.h"
#include "core/tcp_stream.h"

namespace culvert {

Destination Dispatcher::unfake(const Destination& destination) const {
  if (!fake_ip_ || destination.kind != Destination::Kind::ipv4) return destination;
  std::error_code ec;
  auto address = asio::ip::make_address(destination.host, ec);
  if (ec || !fake_ip_->contains(address)) return destination;
  if (auto name = fake_ip_->name_for(address)) return Destination{Destination::Kind::domain, *name, destination.port};
  return destination;  // a fake address from before a restart: no name to give it
}

const routing::Action& Dispatcher::route(const Destination& d, routing::Network network,
                                         std::string_view inbound) const {
  routing::Query query;
  query.port = d.port;
  query.network = network;
  query.inbound = inbound;
  std::string name;
  if (d.kind == Destination::Kind::domain) {
    name = routing::normalize_domain(d.host);
    query.domain = name;
  } else {
    std::error_code ec;
    auto address = asio::ip::make_address(d.host, ec);
    if (!ec) query.address = address;
  }
  return router_->route(query);
}

const routing::Action& Dispatcher::route_name(const std::string& name, std::string_view inbound) const {
  routing::Query query;
  query.domain = name;
  query.port = 53;
  query.network = routing::Network::udp;
  query.inbound = inbound;
  return router_->route(query);
}

bool Dispatcher::allowed(const Destination& destination, std::string_view inbound) const {
  return route(unfake(destination), routing::Network::tcp, inbound).kind != routing::Action::Kind::block;
}

asio::awaitable<Result<ByteStreamPtr>> Dispatcher::open_stream(const Destination& destination, ByteSpan first_data,
                                                               std::string_view inbound) {
  auto target = unfake(destination);
  // Copy: the rule's action may be referenced across awaits only through this value.
  routing::Action action = route(target, routing::Network::tcp, inbound);
  if (action.kind == routing::Action::Kind::block) co_return fail(Errc::destination_refused);
  if (action.kind == routing::Action::Kind::proxy)
    co_return co_await outbounds_.open_stream(action.outbound, target, first_data);
  Bytes first(first_data.begin(), first_data.end());
  // Direct: this machine's own resolver and network (LAN addresses included: they are the user's).
  auto socket = co_await dial(target, DialOptions{true, connect_timeout_});
  if (!socket) co_return fail(socket.error());
  std::error_code ignored;
  socket->set_option(asio::ip::tcp::no_delay(true), ignored);
  auto stream = std::make_unique<TcpStream>(std::move(*socket));
  if (!first.empty()) {
    if (auto ec = co_await stream->write_all(asio::buffer(first))) co_return fail(ec);
  }
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("direct -> {}", target.to_string());
  co_return ByteStreamPtr(std::move(stream));
}

}  // namespace culvert
