// The cover site over HTTP/2 (ALPN h2), framed by libnghttp2 and shaped like nginx 1.22's
// ngx_http_v2 module: its SETTINGS (128 streams, 64 KiB stream window, 16 MiB frames) and
// connection WINDOW_UPDATE first, sent once the first read found nothing or was processed; the
// same answers as HTTP/1.1 (cover/response.h); GOAWAY without debug data; the preface timer of
// client_header_timeout, then keepalive_timeout when idle; a lingering close at the end.
// Thread model: the connection's executor. Ownership: borrows the Conn for the call.
#pragma once

#include <asio/awaitable.hpp>

#include "cover/conn.h"
#include "cover/exchange.h"

namespace culvert::cover {

// The 40 bytes nginx sends first on every HTTP/2 connection (SETTINGS, WINDOW_UPDATE). A tunnel
// that negotiated h2 starts with them too, so that the client can drop them whether or not the
// server sent them before it knew it was talking to a user.
ByteSpan h2_server_preface();

// nginx reads up to this much at a time on an HTTP/2 connection (http2_recv_buffer_size).
inline constexpr std::size_t kH2ReadSize = 256 * 1024 - 32;

struct H2Options {
  Clock::time_point header_deadline;  // client_header_timeout, from accept
  ByteSpan first_bytes;               // already read by the caller, or empty
  bool preface_sent = false;          // the caller already sent h2_server_preface()
  std::vector<Claim> claims;          // paths someone else answers (only their `answer`)
};

// Serves HTTP/2 on `conn` until the connection ends; closes it the way nginx would.
asio::awaitable<void> serve_h2(Conn& conn, H2Options options);

}  // namespace culvert::cover
