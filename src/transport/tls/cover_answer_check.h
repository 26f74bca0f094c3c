// CoverAnswerCheck: a ByteStream that ends with Errc::auth_failed if the tunnel's first byte from
// the server is not a mux frame's (types 1-9). A server that did not accept the preamble (revoked,
// expired, over quota, a wrong key) answers as its cover site does — "HTTP/1.1 400 ..." or an
// HTTP/2 GOAWAY (a frame starting with 0x00) — and the client says so instead of failing to parse
// web pages as frames. Thread model and ownership: as the wrapped stream, which it owns.
#pragma once

#include "core/byte_stream.h"
#include "core/errors.h"

namespace culvert::tls {

class CoverAnswerCheck final : public ByteStream {
 public:
  explicit CoverAnswerCheck(ByteStreamPtr inner) : inner_(std::move(inner)) {}

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override {
    auto [ec, n] = co_await inner_->read_some(buffer);
    if (!checked_ && n > 0) {
      checked_ = true;
      auto first = static_cast<const std::uint8_t*>(buffer.data())[0];
      if (first < 1 || first > 9) co_return IoResult{make_error_code(Errc::auth_failed), 0};
    }
    co_return IoResult{ec, n};
  }
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override { return inner_->write_all(buffer); }
  asio::awaitable<void> shutdown_send() override { return inner_->shutdown_send(); }
  void close() override { inner_->close(); }
  void reset() override { inner_->reset(); }

 private:
  ByteStreamPtr inner_;
  bool checked_ = false;
};

}  // namespace culvert::tls
