// The cover site's HTTP/1.x connection, in nginx 1.22's order of events: read the request line
// and headers into a 1 KiB buffer and then up to four 8 KiB buffers (client_header_buffer_size,
// large_client_header_buffers), answer with the static site or nginx's error pages, discard
// request bodies, keep the connection alive (75 s, 1000 requests) or end it with a lingering
// close (5 s per read, 30 s in all) or a plain close, and time out an unfinished request 60 s
// after it began (client_header_timeout) without a word.
// Thread model: the connection's executor. Ownership: borrows the Conn for the call.
#pragma once

#include <asio/awaitable.hpp>

#include "cover/conn.h"
#include "cover/exchange.h"

namespace culvert::cover {

struct Http1Options {
  // The connection reached a TLS port without TLS: complete requests are answered 400 "The plain
  // HTTP request was sent to HTTPS port", as nginx does.
  bool plain_on_tls_port = false;
  // When client_header_timeout ends for the first request (60 s after accept).
  Clock::time_point header_deadline;
  // Bytes the caller already read with the first read (at most 1 KiB), or empty.
  ByteSpan first_bytes;
  // Requests someone else answers (cover/exchange.h).
  std::vector<Claim> claims;
};

// Serves requests on `conn` until the connection ends; closes it the way nginx would.
asio::awaitable<void> serve_http1(Conn& conn, Http1Options options);

inline constexpr std::size_t kHeaderBufferSize = 1024;
inline constexpr std::chrono::seconds kClientHeaderTimeout{60};
inline constexpr std::chrono::seconds kKeepaliveTimeout{75};
inline constexpr std::chrono::seconds kLingeringTimeout{5};
inline constexpr std::chrono::seconds kLingeringTime{30};

}  // namespace culvert::cover
