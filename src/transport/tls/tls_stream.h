// TlsStream: a ByteStream over OpenSSL driven directly on a non-blocking TCP socket. The SSL object
// reads and writes the socket itself; when it wants I/O, the coroutine awaits the socket's
// readiness. This keeps one copy of the data and gives exact control of close_notify (half-close).
// A read returns every record OpenSSL can open without waiting.
// Thread model: one single-threaded executor. Ownership: owns the socket and the SSL object.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <asio/ip/tcp.hpp>
#include <string>

#include "core/byte_stream.h"
#include "core/result.h"

namespace culvert::tls {

class TlsStream final : public ByteStream {
 public:
  // `ssl` must be fresh and configured for its role; TlsStream takes ownership.
  TlsStream(asio::ip::tcp::socket socket, SSL* ssl);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Runs the handshake (client or server, by how `ssl` was set up). No time limit of its own.
  asio::awaitable<std::error_code> handshake();

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override;
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override;
  // Sends close_notify and a TCP FIN; reading goes on (TLS 1.3 allows a half-closed session).
  asio::awaitable<void> shutdown_send() override;
  void close() override;
  void reset() override;

  // RFC 8446 §7.5 / RFC 5705 exporter: 32 bytes bound to this session.
  Result<std::array<std::uint8_t, 32>> export_key(std::string_view label) const;
  SSL* native_handle() const { return ssl_; }
  // For an authenticated tunnel (many records, long-lived); a probe's connection stays frugal.
  void tune_for_bulk();
  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  // Retries `op` (an SSL_* call) until it makes progress, awaiting the readiness OpenSSL asks for.
  template <class Op>
  asio::awaitable<std::pair<int, int>> drive(Op op);

  asio::ip::tcp::socket socket_;
  SSL* ssl_;
  bool sent_close_notify_ = false;
};

}  // namespace culvert::tls
