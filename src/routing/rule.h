// Routing rules: what the client does with each new connection or datagram. A rule list is
// ordered and the first rule that matches decides; nothing matching takes the final action.
//
// A rule matches when all of its parts hold:
//   destination  any of: domain (exact), domain_suffix, domain_keyword, domain_regex, ip_cidr,
//                geoip country, or an entry of one of its rule-set files (absent: any destination)
//   port         one of its ports / port ranges (absent: any port)
//   network      tcp or udp (absent: both)
//   inbound      one of the named inbounds: "socks", "http", "dns" (absent: any)
// Domain parts match names only and IP parts match IP addresses only: a name is never resolved
// on the client to evaluate an IP rule, so a proxied name never leaks to a local resolver.
// Pure data, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <asio/ip/address.hpp>

namespace culvert::routing {

enum class Network : std::uint8_t { tcp, udp };

struct Action {
  enum class Kind : std::uint8_t { proxy, direct, block };
  Kind kind = Kind::proxy;
  std::string outbound;  // for proxy: a server or a group name

  static Action direct() { return {Kind::direct, {}}; }
  static Action block() { return {Kind::block, {}}; }
  static Action proxy(std::string name) { return {Kind::proxy, std::move(name)}; }
  bool operator==(const Action&) const = default;
  std::string to_string() const;  // "direct", "block" or the outbound name
};

struct Cidr {
  asio::ip::address network;  // host bits zero
  unsigned prefix = 0;

  bool contains(const asio::ip::address& address) const;
};
// "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). Host bits are cleared.
std::optional<Cidr> parse_cidr(std::string_view text);

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
};

// Two ASCII letters, upper case, packed ("CN" -> 'C' << 8 | 'N').
using CountryCode = std::uint16_t;
std::optional<CountryCode> parse_country(std::string_view text);

struct Rule {
  std::vector<std::string> domains;   // exact names
  std::vector<std::string> suffixes;  // "example.com" matches it and every name under it
  std::vector<std::string> keywords;  // substring of the name
  std::vector<std::string> regexes;   // ECMAScript, searched in the name
  std::vector<Cidr> cidrs;
  std::vector<CountryCode> countries;  // GeoIP (needs a database)
  std::vector<PortRange> ports;
  std::optional<Network> network;
  std::vector<std::string> inbounds;
  Action action;

  bool has_destination_part() const {
    return !domains.empty() || !suffixes.empty() || !keywords.empty() || !regexes.empty() || !cidrs.empty() ||
           !countries.empty();
  }
};

// What a connection looks like to the router. Exactly one of `domain` (lower case, no trailing
// dot) and `address` is set.
struct Query {
  std::string_view domain;
  std::optional<asio::ip::address> address;
  std::uint16_t port = 0;
  Network network = Network::tcp;
  std::string_view inbound;
};

// Lower case, without a trailing dot; what the router expects in Query::domain.
std::string normalize_domain(std::string_view name);

}  // namespace culvert::routing
