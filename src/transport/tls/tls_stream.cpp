#include "transport/tls/tls_stream.h"

#include <openssl/err.h>

#include <asio/error.hpp>
#include <asio/use_awaitable.hpp>
#include "core/await.h"

namespace culvert::tls {

TlsStream::TlsStream(asio::ip::tcp::socket socket, SSL* ssl) : socket_(std::move(socket)), ssl_(ssl) {
  socket_.non_blocking(true);
  SSL_set_fd(ssl_, socket_.native_handle());
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  // A peer that closes TCP without close_notify is an ordinary end of stream for us.
  SSL_set_options(ssl_, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

template <class Op>
asio::awaitable<std::pair<int, int>> TlsStream::drive(Op op) {
  for (;;) {
    ERR_clear_error();
    int r = op();
    if (r > 0) co_return std::pair{r, SSL_ERROR_NONE};
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!socket_.is_open()) co_return std::pair{r, SSL_ERROR_SYSCALL};
      auto wait = err == SSL_ERROR_WANT_READ ? asio::ip::tcp::socket::wait_read : asio::ip::tcp::socket::wait_write;
      auto [ec] = co_await socket_.async_wait(wait, use_tuple);
      if (ec) co_return std::pair{r, SSL_ERROR_SYSCALL};
      continue;
    }
    co_return std::pair{r, err};
  }
}

asio::awaitable<std::error_code> TlsStream::handshake() {
  auto [r, err] = co_await drive([this] { return SSL_do_handshake(ssl_); });
  if (err != SSL_ERROR_NONE) co_return make_error_code(Errc::tls_failed);
  co_return std::error_code{};
}

asio::awaitable<IoResult> TlsStream::read_some(asio::mutable_buffer buffer) {
  if (buffer.size() == 0) co_return IoResult{{}, 0};
  std::size_t n = 0;
  auto [r, err] = co_await drive([&] { return SSL_read_ex(ssl_, buffer.data(), buffer.size(), &n); });
  if (err == SSL_ERROR_NONE) {
    // Then every further record OpenSSL can open without waiting: one 16 KiB record per call would
    // cost the tunnel a resumption per record.
    auto* out = static_cast<std::uint8_t*>(buffer.data());
    while (n < buffer.size()) {
      std::size_t more = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl_, out + n, buffer.size() - n, &more) != 1) {
        ERR_clear_error();  // WANT_READ, or an end or error the next call reports again
        break;
      }
      n += more;
    }
    co_return IoResult{{}, n};
  }
  if (err == SSL_ERROR_ZERO_RETURN) co_return IoResult{asio::error::eof, 0};
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && socket_.is_open()) co_return IoResult{asio::error::eof, 0};
  co_return IoResult{make_error_code(Errc::tls_failed), 0};
}

asio::awaitable<std::error_code> TlsStream::write_all(asio::const_buffer buffer) {
  auto* data = static_cast<const std::uint8_t*>(buffer.data());
  std::size_t left = buffer.size();
  while (left > 0) {
    std::size_t n = 0;
    auto [r, err] = co_await drive([&] { return SSL_write_ex(ssl_, data, left, &n); });
    if (err != SSL_ERROR_NONE) co_return make_error_code(Errc::tls_failed);
    data += n;
    left -= n;
  }
  co_return std::error_code{};
}

asio::awaitable<void> TlsStream::shutdown_send() {
  if (sent_close_notify_ || !socket_.is_open()) co_return;
  sent_close_notify_ = true;
  // SSL_shutdown returns 0 once close_notify is sent and the peer's is still to come: that is done.
  co_await drive([this] {
    int r = SSL_shutdown(ssl_);
    return r >= 0 ? 1 : r;
  });
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void TlsStream::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

void TlsStream::reset() {
  std::error_code ignored;
  if (socket_.is_open()) socket_.set_option(asio::socket_base::linger(true, 0), ignored);
  socket_.close(ignored);
}

void TlsStream::tune_for_bulk() {
  // A tunnel is long-lived and busy: keep OpenSSL's record buffers instead of freeing them whenever
  // idle, and read ahead, so a socket read brings several records at once.
  SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl_, 1);
}

Result<std::array<std::uint8_t, 32>> TlsStream::export_key(std::string_view label) const {
  std::array<std::uint8_t, 32> out{};
  if (SSL_export_keying_material(ssl_, out.data(), out.size(), label.data(), label.size(), nullptr, 0, 0) != 1)
    return fail(Errc::tls_failed);
  return out;
}

}  // namespace culvert::tls
