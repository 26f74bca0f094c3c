#include "cover/conn.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

#include "core/await.h"

namespace culvert::cover {

using namespace asio::experimental::awaitable_operators;

Conn::Conn(asio::ip::tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
}

Conn::~Conn() {
  if (ssl_) SSL_free(ssl_);
  std::error_code ignored;
  socket_.close(ignored);
}

std::pair<asio::ip::tcp::socket, SSL*> Conn::release() {
  SSL* ssl = ssl_;
  ssl_ = nullptr;
  return {std::move(socket_), ssl};
}

asio::awaitable<bool> Conn::wait_readable(Clock::time_point deadline) {
  if (Clock::now() >= deadline) co_return false;
  timer_.expires_at(deadline);
  auto result =
      co_await (socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple) || timer_.async_wait(use_tuple));
  if (result.index() == 1) co_return false;
  co_return !std::get<0>(std::get<0>(result));
}

asio::awaitable<bool> Conn::wait_writable() {
  auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_write, use_tuple);
  co_return !ec;
}

asio::awaitable<int> Conn::peek_first_byte(Clock::time_point deadline) {
  for (;;) {
    if (!co_await wait_readable(deadline)) co_return Clock::now() >= deadline ? -2 : -1;
    std::uint8_t byte = 0;
    ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK);
    if (n == 1) {
      ready_ = true;
      co_return byte;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    co_return -1;  // closed before sending anything, or an error
  }
}

asio::awaitable<bool> Conn::handshake(SSL* ssl, Clock::time_point deadline) {
  ssl_ = ssl;
  SSL_set_fd(ssl_, socket_.native_handle());
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      handshaken_ = true;
      ready_ = true;
      co_return true;
    }
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) {
      if (!co_await wait_readable(deadline)) break;
      continue;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      if (!co_await wait_writable()) break;
      continue;
    }
    break;
  }
  tls_peer_done_ = true;  // no close_notify after a failed handshake
  co_return false;
}

ReadResult Conn::recv_now(std::span<std::uint8_t> buffer) {
  if (!ssl_) {
    for (;;) {
      ssize_t n = ::recv(socket_.native_handle(), buffer.data(), buffer.size(), 0);
      if (n > 0) {
        if (static_cast<std::size_t>(n) < buffer.size()) ready_ = false;
        return {ReadStatus::data, static_cast<std::size_t>(n)};
      }
      if (n == 0) {
        ready_ = false;
        return {ReadStatus::eof, 0};
      }
      if (errno == EINTR) continue;
      ready_ = false;
      if (errno == EAGAIN) return {ReadStatus::data, 0};
      return {ReadStatus::error, 0};
    }
  }
  // ngx_ssl_recv: SSL_read until the buffer is full or no record is left.
  std::size_t bytes = 0;
  ERR_clear_error();
  for (;;) {
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_, buffer.data() + bytes, buffer.size() - bytes, &n);
    if (r == 1) {
      bytes += n;
      if (bytes == buffer.size()) {
        ready_ = true;
        return {ReadStatus::data, bytes};
      }
      continue;
    }
    int err = SSL_get_error(ssl_, 0);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      ready_ = false;
      return {ReadStatus::data, bytes};
    }
    // The peer's close_notify, a bare end, or a TLS error: nginx sends no close_notify after it.
    tls_peer_done_ = true;
    ready_ = bytes > 0;
    bool clean = err == SSL_ERROR_ZERO_RETURN || ERR_peek_error() == 0;
    ERR_clear_error();
    if (bytes > 0) return {ReadStatus::data, bytes};
    return {clean ? ReadStatus::eof : ReadStatus::error, 0};
  }
}

asio::awaitable<ReadResult> Conn::recv(std::span<std::uint8_t> buffer, Clock::time_point deadline) {
  for (;;) {
    if (!ready_ && !co_await wait_readable(deadline)) {
      co_return ReadResult{Clock::now() >= deadline ? ReadStatus::timed_out : ReadStatus::error, 0};
    }
    ready_ = true;
    auto r = recv_now(buffer);
    if (r.status == ReadStatus::data && r.n == 0) continue;  // nothing there after all: wait
    if (r.status == ReadStatus::eof && tls_peer_done_ && ssl_) co_return r;
    co_return r;
  }
}

bool Conn::has_pending_input() {
  if (ssl_ && SSL_pending(ssl_) > 0) return true;
  std::uint8_t byte;
  return ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

asio::awaitable<bool> Conn::send(ByteSpan bytes) {
  while (!bytes.empty()) {
    std::size_t chunk = ssl_ ? std::min<std::size_t>(bytes.size(), 16384) : bytes.size();
    std::size_t written = 0;
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_write_ex(ssl_, bytes.data(), chunk, &written);
      if (r != 1) {
        int err = SSL_get_error(ssl_, 0);
        if (err == SSL_ERROR_WANT_WRITE) {
          if (!co_await wait_writable()) co_return false;
          continue;
        }
        if (err == SSL_ERROR_WANT_READ) {
          if (!co_await wait_readable(Clock::now() + std::chrono::seconds(60))) co_return false;
          continue;
        }
        tls_peer_done_ = true;
        co_return false;
      }
    } else {
      ssize_t n = ::send(socket_.native_handle(), bytes.data(), chunk, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          if (!co_await wait_writable()) co_return false;
          continue;
        }
        co_return false;
      }
      written = static_cast<std::size_t>(n);
    }
    bytes = bytes.subspan(written);
  }
  co_return true;
}

void Conn::close(bool quiet) {
  if (ssl_ && handshaken_ && !quiet && !tls_peer_done_) {
    // no_wait_shutdown: close_notify is sent, the peer's is not awaited.
    SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_RECEIVED_SHUTDOWN);
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  std::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<void> Conn::lingering_close(std::chrono::milliseconds each, std::chrono::milliseconds total) {
  if (ssl_ && handshaken_ && !tls_peer_done_) {
    SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_RECEIVED_SHUTDOWN);
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  ::shutdown(socket_.native_handle(), SHUT_WR);
  auto end = Clock::now() + total;
  std::uint8_t buffer[4096];
  for (;;) {
    auto deadline = std::min(end, Clock::now() + each);
    if (!ready_ && !co_await wait_readable(deadline)) break;
    ready_ = true;
    bool ended = false;
    do {
      auto r = recv_now(buffer);
      if (r.status != ReadStatus::data) {
        ended = true;
        break;
      }
      if (r.n == 0) break;
    } while (ready_);
    if (ended || Clock::now() >= end) break;
  }
  close(true);
}

}  // namespace culvert::cover
