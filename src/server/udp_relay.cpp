#include "server/udp_relay.h"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <map>
#include <unordered_map>

#include "core/address_policy.h"
#include "core/await.h"
#include "core/ip_address.h"

namespace culvert {
namespace {

using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;

struct Association {
  udp::socket socket;
  mux::Stream& tunnel;
  const UdpRelayOptions& options;
  bool dual_stack = false;
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  std::unordered_map<std::string, asio::ip::address> resolved;  // a few names, for this association only
  // Replies from an address the client named by a name are reported as from that name, so the
  // client can hand them back as from the (fake) address the application used.
  std::map<udp::endpoint, Destination> names;
  UdpRelayCounters counters;

  udp::endpoint for_socket(const asio::ip::address& address, std::uint16_t port) const {
    if (dual_stack && address.is_v4()) return {asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()), port};
    return {address, port};
  }

  asio::awaitable<std::optional<udp::endpoint>> target_of(const Destination& d) {
    if (d.kind == Destination::Kind::domain && d.host == mux::kTunnelResolverName) {
      if (!options.resolver) co_return std::nullopt;
      co_return for_socket(options.resolver->address(), options.resolver->port());
    }
    asio::ip::address address;
    if (d.kind != Destination::Kind::domain) {
      std::error_code ec;
      address = asio::ip::make_address(d.host, ec);
      if (ec) co_return std::nullopt;
    } else if (auto it = resolved.find(d.host); it != resolved.end()) {
      address = it->second;
    } else {
      udp::resolver resolver(co_await asio::this_coro::executor);
      auto [ec, results] = co_await resolver.async_resolve(d.host, "", use_tuple);
      if (ec) co_return std::nullopt;
      bool found = false;
      for (const auto& entry : results) {
        auto a = unmapped(entry.endpoint().address());
        if (is_forbidden_destination(a, options.allow_private) || (a.is_v6() && !dual_stack)) continue;
        address = a;
        found = true;
        break;
      }
      if (!found) co_return std::nullopt;
      if (resolved.size() >= 64) resolved.clear();
      resolved.emplace(d.host, address);
    }
    if (is_forbidden_destination(unmapped(address), options.allow_private)) co_return std::nullopt;
    if (address.is_v6() && !dual_stack) co_return std::nullopt;
    co_return for_socket(address, d.port);
  }

  asio::awaitable<void> from_tunnel() {
    for (;;) {
      auto datagram = co_await tunnel.receive_datagram();
      if (!datagram) co_return;
      last_activity = std::chrono::steady_clock::now();
      auto target = co_await target_of(datagram->destination);
      if (!target) {
        ++counters.dropped;
        continue;
      }
      if (datagram->destination.kind == Destination::Kind::domain && names.size() < 64)
        names.emplace(*target, datagram->destination);
      auto [ec, n] = co_await socket.async_send_to(asio::buffer(datagram->payload), *target, use_tuple);
      if (ec) {
        ++counters.dropped;
      } else {
        ++counters.sent;
      }
    }
  }

  asio::awaitable<void> to_tunnel() {
    std::vector<std::uint8_t> buffer(mux::kMaxDatagram + 1);
    for (;;) {
      udp::endpoint from;
      auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buffer), from, use_tuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;  // ICMP errors surface here on Linux; the association goes on
      last_activity = std::chrono::steady_clock::now();
      auto address = unmapped(from.address());
      Destination source;
      if (auto named = names.find(from); named != names.end()) {
        source = named->second;
      } else if (options.resolver && address == unmapped(options.resolver->address()) &&
                 from.port() == options.resolver->port()) {
        source = Destination{Destination::Kind::domain, std::string(mux::kTunnelResolverName), 53};
      } else {
        source = Destination{address.is_v4() ? Destination::Kind::ipv4 : Destination::Kind::ipv6, address.to_string(),
                             from.port()};
      }
      if (tunnel.send_datagram(source, {buffer.data(), n})) {
        ++counters.received;
      } else {
        ++counters.dropped;
      }
    }
  }

  asio::awaitable<void> idle_watch() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto tick = std::max(std::chrono::milliseconds(100), options.idle_timeout / 4);
    for (;;) {
      timer.expires_after(tick);
      co_await timer.async_wait(use_tuple);
      if (std::chrono::steady_clock::now() - last_activity >= options.idle_timeout) co_return;
    }
  }
};

}  // namespace

asio::awaitable<UdpRelayCounters> relay_udp(mux::Stream& association, UdpRelayOptions options) {
  auto executor = co_await asio::this_coro::executor;
  Association a{udp::socket(executor), association, options, false, std::chrono::steady_clock::now(), {}, {}, {}};
  std::error_code ec;
  a.socket.open(udp::v6(), ec);
  if (!ec) {
    a.socket.set_option(asio::ip::v6_only(false), ec);
    if (!ec) a.socket.bind(udp::endpoint(udp::v6(), 0), ec);
    a.dual_stack = !ec;
  }
  if (!a.dual_stack) {
    std::error_code ignored;
    a.socket.close(ignored);
    a.socket.open(udp::v4(), ec);
    if (!ec) a.socket.bind(udp::endpoint(udp::v4(), 0), ec);
  }
  if (ec) {
    association.reset(mux::ResetReason::dial_failed);
    co_return a.counters;
  }
  co_await (a.from_tunnel() || a.to_tunnel() || a.idle_watch());
  std::error_code ignored;
  a.socket.close(ignored);
  association.reset(mux::ResetReason::timed_out);
  co_return a.counters;
}

std::optional<asio::ip::udp::endpoint> first_nameserver(std::string_view text) {
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.starts_with("nameserver")) continue;
    line.remove_prefix(10);
    auto start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos || start == 0) continue;
    line = line.substr(start);
    auto stop = line.find_first_of(" \t\r#%");  // "%eth0" scope ids are not for us
    std::error_code ec;
    auto address = asio::ip::make_address(std::string(line.substr(0, stop)), ec);
    if (!ec) return asio::ip::udp::endpoint(address, 53);
  }
  return std::nullopt;
}

}  // namespace culvert
