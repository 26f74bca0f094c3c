// mirror_relay(): relays raw bytes between a client and an upstream (a borrowed site, a cover web
// server) so that the client sees the upstream's own endings — a FIN as a FIN, a reset as a
// reset, silence as silence — at the moment the upstream produced them. A relay that answered a
// reset with a FIN (or held a connection the upstream had closed) would be a tell.
// Thread model: the sockets' executor. Ownership: borrows both sockets; closes them at the end.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>

namespace culvert {

// Copies both ways until both directions ended (or neither moved a byte for `idle`).
asio::awaitable<void> mirror_relay(asio::ip::tcp::socket& client, asio::ip::tcp::socket& upstream,
                                   std::chrono::steady_clock::duration idle);

// Closes `socket` with a TCP reset (SO_LINGER 0), as the kernel does for a close with unread data.
void close_with_reset(asio::ip::tcp::socket& socket);

}  // namespace culvert
