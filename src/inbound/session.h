// Inbound session: one local application connection to the client's proxy port. The first byte
// tells the protocol (0x05: SOCKS5, a letter: HTTP proxy). The session parses the request, asks
// the tunnel pool for a tunnel, opens a mux stream carrying the destination name (the server
// resolves it: no DNS from the client), and relays.
#pragma once

#include <asio/ip/tcp.hpp>
#include <functional>

#include "core/byte_stream.h"
#include "core/destination.h"
#include "core/result.h"

namespace culvert {

// Opens a stream to `destination` carrying `first_data`; provided by the client (tunnel pool).
using StreamOpener = std::function<asio::awaitable<Result<ByteStreamPtr>>(const Destination&, ByteSpan first_data)>;

struct InboundOptions {
  // After replying to CONNECT, wait this long for the application's first bytes so they ride in
  // the OPEN frame; server-speaks-first protocols just start this much later.
  std::chrono::milliseconds first_data_wait{20};
  std::chrono::milliseconds handshake_timeout{30000};
  std::chrono::milliseconds idle_timeout{300000};
};

asio::awaitable<void> serve_inbound(asio::ip::tcp::socket socket, StreamOpener opener, InboundOptions options);

}  // namespace culvert
