// Inbound session: one local application connection to the client's proxy port. The first byte
// tells the protocol (0x05: SOCKS5, a letter: HTTP proxy). The session parses the request, asks
// the client's handlers whether the rules allow the destination and for a stream to it (a mux
// stream carrying the destination name, so the server resolves it, or a direct connection), and
// relays. SOCKS5 UDP ASSOCIATE is handed to the client whole; `GET /proxy.pac` is answered with
// the PAC file.
#pragma once

#include <asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "core/byte_stream.h"
#include "core/destination.h"
#include "core/result.h"

namespace culvert {

class TcpStream;

// What the client provides; `inbound` is "socks" or "http" (rules can match on it).
struct InboundHandlers {
  // Opens a stream to `destination` carrying `first_data`, as the rules route it.
  std::function<asio::awaitable<Result<ByteStreamPtr>>(const Destination&, ByteSpan first_data,
                                                       std::string_view inbound)>
      open;
  // false when the rules block `destination`: refused before anything is dialed. Absent: all allowed.
  std::function<bool(const Destination&, std::string_view inbound)> allowed;
  // SOCKS5 UDP ASSOCIATE: answers the request and runs the association until `control` closes.
  // Absent: the command is refused as not supported.
  std::function<asio::awaitable<void>(TcpStream& control)> associate;
  std::shared_ptr<const std::string> pac;  // served for GET /proxy.pac; absent: 404
};

struct InboundOptions {
  // After replying to CONNECT, wait this long for the application's first bytes so they ride in
  // the OPEN frame; server-speaks-first protocols just start this much later.
  std::chrono::milliseconds first_data_wait{20};
  std::chrono::milliseconds handshake_timeout{30000};
  std::chrono::milliseconds idle_timeout{300000};
};

asio::awaitable<void> serve_inbound(asio::ip::tcp::socket socket, std::shared_ptr<const InboundHandlers> handlers,
                                    InboundOptions options);

}  // namespace culvert
