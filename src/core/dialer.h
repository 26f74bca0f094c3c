// Dialer: connects to a destination on a user's behalf. Resolves names at the server (async),
// applies the SSRF guard to every resolved address, tries addresses in order alternating IPv6 and
// IPv4 (a simple Happy Eyeballs order, RFC 8305 §4), each within the connect time limit.
// Keeps no record of destinations.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <vector>

#include "core/destination.h"
#include "core/result.h"

namespace culvert {

struct DialOptions {
  bool allow_private = false;
  std::chrono::milliseconds connect_timeout{10000};
  // Resolves names instead of the system's resolver (the server's `dns_resolver`); absent: the
  // system's (getaddrinfo, /etc/resolv.conf). Errors as dial()'s.
  std::function<asio::awaitable<Result<std::vector<asio::ip::address>>>(const std::string& name)> resolve;
};

// Errors: Errc::destination_refused (every address forbidden), Errc::dial_failed, Errc::timed_out.
asio::awaitable<Result<asio::ip::tcp::socket>> dial(const Destination& destination, const DialOptions& options);

}  // namespace culvert
