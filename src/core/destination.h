// Destination: where a proxied stream goes, as the application named it (a domain name is kept
// as a name so that the server, not the client, resolves it). Encoded like SOCKS5's address
// (ATYP, address, port), which the mux OPEN frame reuses.
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert {

struct Destination {
  enum class Kind : std::uint8_t { ipv4 = 1, domain = 3, ipv6 = 4 };
  Kind kind = Kind::domain;
  std::string host;  // dotted IPv4, IPv6 text without brackets, or a domain name
  std::uint16_t port = 0;

  // "host:port" or "[v6]:port", for debug logs only (destinations are private at info level).
  std::string to_string() const;
  bool operator==(const Destination&) const = default;
};

// Builds a Destination from text, detecting IP literals. Names longer than 255 bytes are refused.
Result<Destination> make_destination(std::string_view host, std::uint16_t port);

void encode_destination(const Destination& d, Bytes& out);
// Reads ATYP/address/port. Errc::truncated when more bytes are needed, Errc::malformed otherwise.
Result<Destination> decode_destination(Reader& in);

}  // namespace culvert
