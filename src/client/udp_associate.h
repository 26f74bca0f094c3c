// SOCKS5 UDP ASSOCIATE (RFC 1928 §7) in the client: binds a UDP port on the proxy's own address,
// answers the request with it, and relays until the application closes the control connection
// (or nothing moved for `idle_timeout`). Each datagram is routed on its own: through an outbound
// (one mux datagram association per outbound, opened on first use), directly from a local UDP
// socket, or dropped when blocked. Datagrams are taken only from the control connection's host;
// fragments (FRAG != 0) are dropped as the RFC allows. Nothing queues without bound: the mux
// association holds at most 256 datagrams and the sockets the kernel's buffers.
// Thread model: the client's executor.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>

#include "client/dispatcher.h"
#include "core/tcp_stream.h"

namespace culvert {

struct UdpAssociationCounters {
  std::uint64_t from_app = 0;
  std::uint64_t to_app = 0;
  std::uint64_t dropped = 0;  // fragments, malformed, blocked, unroutable or a full tunnel
};

asio::awaitable<UdpAssociationCounters> run_udp_association(TcpStream& control, Dispatcher& dispatcher,
                                                            std::chrono::milliseconds idle_timeout);

}  // namespace culvert
