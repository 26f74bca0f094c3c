// Inbound session: one local application connection to the client's proxy port. The first byte
// tells the protocol (0x05: SOCKS5, a letter: HTTP proxy). The session parses the request, asks
// the client once for the route (the rules decide; a direct connection is dialed, or a tunnel to
// the chosen server made ready), answers the application — with the failure in its own terms when
// there is one: a SOCKS5 reply code, an HTTP 403/502/504 that names the reason — then opens the
// stream with the application's first bytes moved into it and relays. A failure after the answer
// (the server could not reach the destination, the tunnel died) resets the application's
// connection, so it never takes a truncated stream for a complete one. SOCKS5 UDP ASSOCIATE is
// handed to the client whole; `GET /proxy.pac` is answered with the PAC file.
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

// A connection's route, decided once and made ready: what is left is the application's first bytes.
class PreparedRoute {
 public:
  virtual ~PreparedRoute() = default;
  // Opens the stream with `first_data` in its first write (a mux OPEN frame, or a direct write).
  virtual asio::awaitable<Result<ByteStreamPtr>> open(Bytes first_data) = 0;
};
using PreparedRoutePtr = std::unique_ptr<PreparedRoute>;

// What the client provides; `inbound` is "socks" or "http" (rules can match on it).
struct InboundHandlers {
  // Decides the route of `destination` and makes it ready. Errors: Errc::destination_refused (the
  // rules block it), a direct dial's error, Errc::tunnel_closed (no server of the outbound can be
  // reached), Errc::auth_failed (the server did not accept the link).
  std::function<asio::awaitable<Result<PreparedRoutePtr>>(const Destination&, std::string_view inbound)> prepare;
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

// What an application is told when its connection could not be made: the SOCKS5 reply code, the
// HTTP status and reason, and one sentence naming the reason class (no destination in it).
struct FailureAnswer {
  std::uint8_t socks_reply = 1;
  int http_status = 502;
  std::string_view http_reason = "Bad Gateway";
  std::string_view why;
};
FailureAnswer failure_answer(std::error_code ec);

}  // namespace culvert
