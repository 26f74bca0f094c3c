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

namespace {

// A direct connection, already dialed: the first bytes are written to it.
class DirectRoute final : public PreparedRoute {
 public:
  explicit DirectRoute(std::unique_ptr<TcpStream> stream) : stream_(std::move(stream)) {}
  asio::awaitable<Result<ByteStreamPtr>> open(Bytes first_data) override {
    if (!first_data.empty()) {
      if (auto ec = co_await stream_->write_all(asio::buffer(first_data))) co_return fail(ec);
    }
    co_return ByteStreamPtr(std::move(stream_));
  }

 private:
  std::unique_ptr<TcpStream> stream_;
};

// A tunnel to the chosen server, up: the first bytes ride in the OPEN frame. Between prepare()
// and open() other connections may have filled that tunnel or it may have closed: then the
// outbound is asked for a tunnel again.
class TunnelRoute final : public PreparedRoute {
 public:
  TunnelRoute(Outbounds& outbounds, std::string outbound, std::shared_ptr<mux::Session> tunnel, Destination destination)
      : outbounds_(outbounds),
        outbound_(std::move(outbound)),
        tunnel_(std::move(tunnel)),
        destination_(std::move(destination)) {}
  asio::awaitable<Result<ByteStreamPtr>> open(Bytes first_data) override {
    auto stream = tunnel_->open(destination_, first_data);
    for (int attempt = 0; !stream && attempt < 3; ++attempt) {
      auto again = co_await outbounds_.acquire(outbound_);
      if (!again) co_return fail(again.error());
      tunnel_ = std::move(*again);
      stream = tunnel_->open(destination_, first_data);
    }
    if (!stream) co_return fail(stream.error());
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("stream {} -> {}", (*stream)->id(), destination_.to_string());
    co_return ByteStreamPtr(std::move(*stream));
  }

 private:
  Outbounds& outbounds_;
  std::string outbound_;
  std::shared_ptr<mux::Session> tunnel_;
  Destination destination_;
};

}  // namespace

asio::awaitable<Result<PreparedRoutePtr>> Dispatcher::prepare(const Destination& destination,
                                                              std::string_view inbound) {
  auto target = unfake(destination);
  // Copy: the rule's action may be referenced across awaits only through this value.
  routing::Action action = route(target, routing::Network::tcp, inbound);
  if (action.kind == routing::Action::Kind::block) co_return fail(Errc::destination_refused);
  if (action.kind == routing::Action::Kind::proxy) {
    auto tunnel = co_await outbounds_.acquire(action.outbound);
    if (!tunnel) {
      spdlog::info("connection failed: no server of {} can be reached ({})", action.outbound, tunnel.error().message());
      co_return fail(tunnel.error() == Errc::auth_failed ? Errc::auth_failed : Errc::tunnel_closed);
    }
    co_return PreparedRoutePtr(
        std::make_unique<TunnelRoute>(outbounds_, action.outbound, std::move(*tunnel), std::move(target)));
  }
  // Direct: this machine's own resolver and network (LAN addresses included: they are the user's).
  auto socket = co_await dial(target, DialOptions{true, connect_timeout_, {}});
  if (!socket) {
    spdlog::info("connection failed: direct connection ({})", socket.error().message());
    co_return fail(socket.error());
  }
  std::error_code ignored;
  socket->set_option(asio::ip::tcp::no_delay(true), ignored);
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("direct -> {}", target.to_string());
  co_return PreparedRoutePtr(std::make_unique<DirectRoute>(std::make_unique<TcpStream>(std::move(*socket))));
}

}  // namespace culvert
