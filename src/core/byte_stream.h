// ByteStream: the one async stream interface that TCP sockets, TLS sessions and mux streams all
// implement, so that relays, inbound sessions and tests do not care what carries the bytes.
// Thread model: every stream belongs to one single-threaded io_context; call it only from there.
// Ownership: whoever holds the unique_ptr owns the connection; close() is idempotent.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>
#include <tuple>
#include <utility>

namespace culvert {

using IoResult = std::pair<std::error_code, std::size_t>;

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // Reads at least one byte. End of stream is asio::error::eof with 0 bytes.
  virtual asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) = 0;
  // Whether read_some would complete without waiting (data, end of stream or an error is there).
  // With wait_readable() it lets a relay hold no buffer while a direction is idle.
  virtual bool readable_now() { return true; }
  // Waits until readable_now() may have become true (it can wake early: check again). Returns the
  // underlying wait's own awaitable, so an idle stream keeps no coroutine frame of ours waiting.
  virtual asio::awaitable<std::tuple<std::error_code>> wait_readable() { co_return std::tuple<std::error_code>{}; }
  // Bytes this stream already holds that a relay may write on without copying them out first
  // (empty if none, or if the stream holds none). Valid until consume_buffered() or the next read;
  // bytes arriving meanwhile do not move them.
  virtual std::span<const std::uint8_t> buffered() { return {}; }
  virtual void consume_buffered(std::size_t n) {}
  // Writes the whole buffer or fails.
  virtual asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) = 0;
  // Half-close: the peer reads end of stream; reading from this side goes on.
  virtual asio::awaitable<void> shutdown_send() = 0;
  // Abortive close of both directions; pending operations complete with an error.
  virtual void close() = 0;
  // Like close(), but the peer learns that the stream failed rather than ended: a TCP reset
  // (SO_LINGER 0), a mux RESET. A relay passes a failure on this way, so an application never
  // takes a truncated stream for a complete one.
  virtual void reset() { close(); }
};

using ByteStreamPtr = std::unique_ptr<ByteStream>;

}  // namespace culvert
