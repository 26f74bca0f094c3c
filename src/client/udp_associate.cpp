#include "client/udp_associate.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <map>

#include "core/await.h"
#include "core/ip_address.h"
#include "inbound/socks5/codec.h"

namespace culvert {
namespace {

using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;

Destination destination_of(const udp::endpoint& endpoint) {
  auto address = unmapped(endpoint.address());
  return {address.is_v4() ? Destination::Kind::ipv4 : Destination::Kind::ipv6, address.to_string(), endpoint.port()};
}

class Association : public std::enable_shared_from_this<Association> {
 public:
  Association(asio::any_io_executor executor, Dispatcher& dispatcher, asio::ip::address app_host)
      : executor_(executor),
        dispatcher_(dispatcher),
        app_host_(app_host),
        app_socket_(executor),
        direct_socket_(executor) {}

  Result<Destination> bind(const asio::ip::address& local) {
    std::error_code ec;
    app_socket_.open(local.is_v4() ? udp::v4() : udp::v6(), ec);
    if (!ec) app_socket_.bind(udp::endpoint(local, 0), ec);
    if (ec) return fail(ec);
    return destination_of(app_socket_.local_endpoint());
  }

  asio::awaitable<void> run(TcpStream& control, std::chrono::milliseconds idle_timeout) {
    co_await (watch_control(control) || from_app() || idle_watch(idle_timeout));
    stop();
  }

  const UdpAssociationCounters& counters() const { return counters_; }

 private:
  void stop() {
    stopping_ = true;
    std::error_code ignored;
    app_socket_.close(ignored);
    direct_socket_.close(ignored);
    for (auto& [name, tunnel] : tunnels_) tunnel->close();
  }

  asio::awaitable<void> watch_control(TcpStream& control) {
    std::uint8_t byte[64];
    for (;;) {
      auto [ec, n] = co_await control.read_some(asio::buffer(byte));
      if (ec) co_return;  // the application ended the association
    }
  }

  asio::awaitable<void> idle_watch(std::chrono::milliseconds idle_timeout) {
    asio::steady_timer timer(executor_);
    for (;;) {
      timer.expires_after(std::max(std::chrono::milliseconds(100), idle_timeout / 4));
      co_await timer.async_wait(use_tuple);
      if (std::chrono::steady_clock::now() - last_activity_ >= idle_timeout) co_return;
    }
  }

  void to_app(const Destination& source, ByteSpan payload) {
    if (!app_endpoint_ || stopping_) return;
    auto header = socks5::encode_udp_header(source);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(payload.data(), payload.size())};
    std::error_code ec;
    // Non-blocking: a full socket buffer drops the datagram, as UDP would.
    app_socket_.non_blocking(true, ec);
    app_socket_.send_to(buffers, *app_endpoint_, 0, ec);
    if (ec) {
      ++counters_.dropped;
    } else {
      ++counters_.to_app;
      last_activity_ = std::chrono::steady_clock::now();
    }
  }

  // The application sent to `original`; a reply named by the server as `source` is reported back
  // as from `original` when they are the same name (fake IPs), so the application sees its peer.
  Destination as_app_sees(const Destination& source) {
    if (auto it = sent_as_.find(source.host + ":" + std::to_string(source.port)); it != sent_as_.end())
      return it->second;
    return source;
  }

  // `self` keeps the association alive while the reader waits (it may wake after run() ended).
  asio::awaitable<void> tunnel_reader(std::shared_ptr<Association> self, std::string outbound, mux::Stream* tunnel) {
    for (;;) {
      auto datagram = co_await tunnel->receive_datagram();
      if (!datagram) break;
      last_activity_ = std::chrono::steady_clock::now();
      to_app(as_app_sees(datagram->destination), datagram->payload);
    }
    // The association or its tunnel ended: the next datagram for this outbound opens a new one.
    if (auto it = tunnels_.find(outbound); it != tunnels_.end() && it->second.get() == tunnel) tunnels_.erase(it);
  }

  asio::awaitable<void> direct_reader(std::shared_ptr<Association> self) {
    std::vector<std::uint8_t> buffer(65536);
    for (;;) {
      udp::endpoint from;
      auto [ec, n] = co_await direct_socket_.async_receive_from(asio::buffer(buffer), from, use_tuple);
      if (ec == asio::error::operation_aborted || stopping_) co_return;
      if (ec) continue;
      last_activity_ = std::chrono::steady_clock::now();
      auto source = destination_of(from);
      to_app(as_app_sees(source), {buffer.data(), n});
    }
  }

  asio::awaitable<void> send_direct(Destination target, Bytes payload) {
    if (!direct_socket_.is_open()) {
      std::error_code ec;
      direct_socket_.open(udp::v6(), ec);
      if (!ec) direct_socket_.set_option(asio::ip::v6_only(false), ec);
      if (!ec) direct_socket_.bind(udp::endpoint(udp::v6(), 0), ec);
      if (ec) {
        ++counters_.dropped;
        co_return;
      }
      asio::co_spawn(executor_, direct_reader(shared_from_this()), asio::detached);
    }
    asio::ip::address address;
    std::error_code ec;
    if (target.kind == Destination::Kind::domain) {
      udp::resolver resolver(executor_);
      auto [rec, results] = co_await resolver.async_resolve(target.host, "", use_tuple);
      if (rec || results.empty() || stopping_) {
        ++counters_.dropped;
        co_return;
      }
      address = results.begin()->endpoint().address();
      // Replies come from the address; the application named the host.
      auto key = unmapped(address).to_string() + ":" + std::to_string(target.port);
      if (sent_as_.size() < 256) sent_as_.emplace(key, target);
    } else {
      address = asio::ip::make_address(target.host, ec);
      if (ec) {
        ++counters_.dropped;
        co_return;
      }
    }
    if (address.is_v4()) address = asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4());
    direct_socket_.send_to(asio::buffer(payload), udp::endpoint(address, target.port), 0, ec);
    if (ec) ++counters_.dropped;
  }

  asio::awaitable<void> send_proxied(std::string outbound, Destination target, Bytes payload) {
    auto it = tunnels_.find(outbound);
    if (it == tunnels_.end()) {
      auto opened = co_await dispatcher_.outbounds().open_datagram(outbound);
      if (!opened || stopping_) {
        ++counters_.dropped;
        co_return;
      }
      it = tunnels_.find(outbound);  // another datagram may have opened one meanwhile
      if (it == tunnels_.end()) {
        it = tunnels_.emplace(outbound, std::move(*opened)).first;
        asio::co_spawn(executor_, tunnel_reader(shared_from_this(), outbound, it->second.get()), asio::detached);
      }
    }
    if (!it->second->send_datagram(target, payload)) ++counters_.dropped;
  }

  asio::awaitable<void> from_app() {
    std::vector<std::uint8_t> buffer(65536 + 512);
    for (;;) {
      udp::endpoint from;
      auto [ec, n] = co_await app_socket_.async_receive_from(asio::buffer(buffer), from, use_tuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      // Only the host that asked for the association may use it (RFC 1928 §7).
      if (unmapped(from.address()) != unmapped(app_host_)) {
        ++counters_.dropped;
        continue;
      }
      app_endpoint_ = from;
      last_activity_ = std::chrono::steady_clock::now();
      ++counters_.from_app;
      auto header = socks5::parse_udp_header({buffer.data(), n});
      if (!header || header->fragment != 0) {
        ++counters_.dropped;
        continue;
      }
      ByteSpan payload(buffer.data() + header->size, n - header->size);
      auto target = dispatcher_.unfake(header->destination);
      if (target.kind == Destination::Kind::domain && header->destination.kind != Destination::Kind::domain &&
          sent_as_.size() < 256)
        sent_as_.emplace(target.host + ":" + std::to_string(target.port), header->destination);
      routing::Action action = dispatcher_.route(target, routing::Network::udp, "socks");
      Bytes copy(payload.begin(), payload.end());
      if (action.kind == routing::Action::Kind::block) {
        ++counters_.dropped;
      } else if (action.kind == routing::Action::Kind::direct) {
        co_await send_direct(std::move(target), std::move(copy));
      } else {
        co_await send_proxied(action.outbound, std::move(target), std::move(copy));
      }
    }
  }

  asio::any_io_executor executor_;
  Dispatcher& dispatcher_;
  asio::ip::address app_host_;
  udp::socket app_socket_;
  udp::socket direct_socket_;
  std::optional<udp::endpoint> app_endpoint_;
  std::map<std::string, std::unique_ptr<mux::Stream>> tunnels_;  // per outbound
  std::map<std::string, Destination> sent_as_;  // "host:port" as named by the peer -> as the app named it
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
  UdpAssociationCounters counters_;
  bool stopping_ = false;
};

}  // namespace

asio::awaitable<UdpAssociationCounters> run_udp_association(TcpStream& control, Dispatcher& dispatcher,
                                                            std::chrono::milliseconds idle_timeout) {
  auto executor = co_await asio::this_coro::executor;
  std::error_code ec;
  auto local = control.socket().local_endpoint(ec);
  auto peer = control.socket().remote_endpoint(ec);
  if (ec) co_return UdpAssociationCounters{};
  // Shared: the readers spawned per outbound may outlive this frame by one wake-up.
  auto association = std::make_shared<Association>(executor, dispatcher, peer.address());
  auto bound = association->bind(local.address());
  if (!bound) {
    auto reply = socks5::encode_reply(socks5::Reply::general_failure);
    co_await control.write_all(asio::buffer(reply));
    co_return UdpAssociationCounters{};
  }
  auto reply = socks5::encode_reply(socks5::Reply::succeeded, *bound);
  if (co_await control.write_all(asio::buffer(reply))) co_return UdpAssociationCounters{};
  co_await association->run(control, idle_timeout);
  co_return association->counters();
}

}  // namespace culvert
