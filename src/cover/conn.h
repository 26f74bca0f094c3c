// One client connection as nginx's event loop handles it, so that the cover site reads, writes
// and closes exactly when and how nginx would: the same read sizes (a read shorter than asked
// means "not ready" until the socket is readable again; over TLS, SSL_read is repeated until the
// buffer is full or no record is left, as ngx_ssl_recv does), the same TLS shutdown rules
// (close_notify unless the connection timed out or failed; none during a handshake), the same
// lingering close, and a plain close() that the kernel turns into RST when unread bytes remain.
// Thread model: one single-threaded executor. Ownership: owns the socket and the SSL object.
#pragma once

#include <openssl/ssl.h>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <span>

#include "core/bytes.h"

namespace culvert::cover {

using Clock = std::chrono::steady_clock;

enum class ReadStatus { data, eof, error, timed_out };
struct ReadResult {
  ReadStatus status = ReadStatus::error;
  std::size_t n = 0;
};

class Conn {
 public:
  explicit Conn(asio::ip::tcp::socket socket);
  ~Conn();  // closes (plain close()) if still open
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  asio::ip::tcp::socket& socket() { return socket_; }
  SSL* ssl() const { return ssl_; }
  bool is_tls() const { return ssl_ != nullptr; }
  // Gives up the socket and SSL object (to the tunnel); the Conn is then empty.
  std::pair<asio::ip::tcp::socket, SSL*> release();

  // Waits (until `deadline`) for the first byte and returns it without consuming it; -1 if the
  // peer closed first or the wait failed, -2 on time-out.
  asio::awaitable<int> peek_first_byte(Clock::time_point deadline);

  // Takes over `ssl` (fresh, accept state) and runs the handshake until done, failed or the
  // deadline. True once handshaken.
  asio::awaitable<bool> handshake(SSL* ssl, Clock::time_point deadline);

  // nginx's c->recv: waits for readiness (until `deadline`) only when the last read said "not
  // ready", then reads up to buffer.size() (over TLS, record after record while they fit).
  asio::awaitable<ReadResult> recv(std::span<std::uint8_t> buffer, Clock::time_point deadline);
  // Reads without waiting at all: data, eof, error, or 0 bytes with status data (nothing there).
  ReadResult recv_now(std::span<std::uint8_t> buffer);
  bool ready() const { return ready_; }
  // Whether OpenSSL or the socket holds unread bytes right now.
  bool has_pending_input();

  // Writes everything (over TLS in records of up to 16 KiB, as nginx's ssl_buffer_size).
  asio::awaitable<bool> send(ByteSpan bytes);

  // How the connection ends (ngx_http_close_connection): over TLS a close_notify first unless
  // `quiet` (timed out, failed, or the peer's own TLS end or error), never during a handshake;
  // then close(). Unread bytes in the kernel make that close a reset.
  void close(bool quiet);
  // ngx_http_set_lingering_close: close_notify (TLS), shutdown(SHUT_WR), then read and discard
  // until the peer ends, `each` passes without data or `total` is used up; then close().
  asio::awaitable<void> lingering_close(std::chrono::milliseconds each, std::chrono::milliseconds total);

  // Set once the peer's TLS ended or failed: no close_notify then (no_send_shutdown).
  bool tls_peer_done() const { return tls_peer_done_; }

 private:
  // Waits for the socket to become readable; false on time-out or error.
  asio::awaitable<bool> wait_readable(Clock::time_point deadline);
  asio::awaitable<bool> wait_writable();

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  SSL* ssl_ = nullptr;
  bool ready_ = false;  // nginx's rev->ready: a read may be tried without waiting
  bool tls_peer_done_ = false;
  bool handshaken_ = false;
};

}  // namespace culvert::cover
