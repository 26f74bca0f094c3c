// SOCKS5 codec (RFC 1928), pure. Each parse function looks at the bytes received so far and
// returns the message and how many bytes it used, Errc::truncated if more bytes are needed, or
// another error for bytes no valid client sends.
#pragma once

#include "core/bytes.h"
#include "core/destination.h"
#include "core/result.h"

namespace culvert::socks5 {

inline constexpr std::uint8_t kVersion = 5;
inline constexpr std::uint8_t kMethodNoAuth = 0x00;
inline constexpr std::uint8_t kMethodNoneAcceptable = 0xff;

enum class Command : std::uint8_t { connect = 1, bind = 2, udp_associate = 3 };

enum class Reply : std::uint8_t {
  succeeded = 0,
  general_failure = 1,
  not_allowed = 2,
  network_unreachable = 3,
  host_unreachable = 4,
  connection_refused = 5,
  ttl_expired = 6,
  command_not_supported = 7,
  address_type_not_supported = 8,
};

struct Greeting {
  Bytes methods;
  std::size_t size = 0;
};
Result<Greeting> parse_greeting(ByteSpan input);

struct Request {
  Command command;
  Destination destination;
  std::size_t size = 0;
};
// Errors: Errc::unsupported (unknown command: reply command_not_supported),
// Errc::malformed with a bad address type (reply address_type_not_supported), Errc::malformed.
Result<Request> parse_request(ByteSpan input);
// The reply the request error calls for (RFC 1928 §6).
Reply reply_for_error(ByteSpan input);

Bytes encode_method_choice(std::uint8_t method);
// A reply with bound address 0.0.0.0:0 (clients ignore it for CONNECT).
Bytes encode_reply(Reply reply);
// A reply naming the bound address (UDP ASSOCIATE: where the client sends its datagrams).
Bytes encode_reply(Reply reply, const Destination& bound);

// UDP request header (RFC 1928 §7): RSV u16 (0), FRAG u8, destination, then the datagram.
struct UdpHeader {
  std::uint8_t fragment = 0;  // 0: a whole datagram; others are fragments, which Culvert drops
  Destination destination;
  std::size_t size = 0;  // header bytes; the datagram follows
};
// Errc::malformed for a bad reserved field or address (the datagram is dropped).
Result<UdpHeader> parse_udp_header(ByteSpan datagram);
// The header for a datagram from `source`, to put before it when relaying to the application.
Bytes encode_udp_header(const Destination& source);

}  // namespace culvert::socks5
