// The built-in cover website: a small static site served over plain HTTP/1.1 on a loopback port.
// The fallback relay sends everything that is not an authenticated client here, after the TLS
// layer, so probes, scanners and browsers see an ordinary web server. It behaves like a default
// nginx where a prober can measure it: error pages, keep-alive, header and idle time limits.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>

#include "server/cover_http.h"

namespace culvert {

struct CoverTimeouts {
  std::chrono::milliseconds header{60000};      // nginx client_header_timeout
  std::chrono::milliseconds keep_alive{75000};  // nginx keepalive_timeout
};

// Accepts on `acceptor` forever, one coroutine per connection.
asio::awaitable<void> run_cover_site(asio::ip::tcp::acceptor& acceptor, CoverTimeouts timeouts);

}  // namespace culvert
