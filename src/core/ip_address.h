// Small IP address helpers shared by the dialer, the UDP relays and the router.
#pragma once

#include <asio/ip/address.hpp>

namespace culvert {

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as dual-stack sockets report IPv4 peers) as the
// IPv4 address it carries; any other address unchanged.
inline asio::ip::address unmapped(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address;
}

}  // namespace culvert
