// DropPrefixStream: a ByteStream that drops a known prefix from the start of what it reads.
// A tls-transport tunnel that negotiated h2 starts with the 40 bytes of the cover's HTTP/2 server
// preface (nginx sends its SETTINGS before it has read anything, so the server sends them to
// users too); the client drops them here, before the mux sees a byte. Bytes that differ from the
// expected prefix end the stream with Errc::malformed: the server is not a Culvert server.
// Thread model and ownership: as the wrapped stream, which it owns.
#pragma once

#include <asio/buffer.hpp>
#include <cstring>

#include "core/byte_stream.h"
#include "core/bytes.h"
#include "core/errors.h"

namespace culvert::tls {

class DropPrefixStream final : public ByteStream {
 public:
  DropPrefixStream(ByteStreamPtr inner, Bytes prefix) : inner_(std::move(inner)), prefix_(std::move(prefix)) {}

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override {
    while (matched_ < prefix_.size()) {
      std::uint8_t scratch[64];
      auto want = std::min(sizeof scratch, prefix_.size() - matched_);
      auto [ec, n] = co_await inner_->read_some(asio::buffer(scratch, want));
      if (ec) co_return IoResult{ec, 0};
      if (std::memcmp(scratch, prefix_.data() + matched_, n) != 0)
        co_return IoResult{make_error_code(Errc::malformed), 0};
      matched_ += n;
    }
    co_return co_await inner_->read_some(buffer);
  }
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override { return inner_->write_all(buffer); }
  asio::awaitable<void> shutdown_send() override { return inner_->shutdown_send(); }
  void close() override { inner_->close(); }
  void reset() override { inner_->reset(); }

 private:
  ByteStreamPtr inner_;
  Bytes prefix_;
  std::size_t matched_ = 0;
};

}  // namespace culvert::tls
