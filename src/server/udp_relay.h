// UDP relay: one datagram association of a user, served from one UDP socket of the server's (so
// replies from a destination come back through the same association). Datagrams to names are
// resolved here; every address passes the SSRF guard; the resolver name (mux::kTunnelResolverName)
// goes to the configured DNS resolver, which the operator chose and so is not guarded.
// Ends after `idle_timeout` without a datagram either way, or when the association ends.
// Thread model: the server's single-threaded executor. Keeps no record of destinations.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "mux/session.h"

namespace culvert {

struct UdpRelayOptions {
  bool allow_private = false;
  std::chrono::milliseconds idle_timeout{60000};
  std::optional<asio::ip::udp::endpoint> resolver;  // for kTunnelResolverName; none: dropped
};

struct UdpRelayCounters {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t dropped = 0;  // refused by the guard, unresolvable, or the tunnel was full
};

// Relays until the association ends or idles out; `association` must outlive the call.
asio::awaitable<UdpRelayCounters> relay_udp(mux::Stream& association, UdpRelayOptions options);

// The first `nameserver` of a resolv.conf text, port 53; nullopt when there is none.
std::optional<asio::ip::udp::endpoint> first_nameserver(std::string_view resolv_conf);

}  // namespace culvert
