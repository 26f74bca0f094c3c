// The CDN transport's session as a ByteStream: the mux reads and writes it like a TLS stream,
// while the HTTP requests that carry it come and go underneath (client: transport/cdn/dialer.h,
// server: transport/cdn/gate.h). ChannelCore is the state both share: the Channel and the
// wake-ups between the stream's user and the carriers.
// Thread model: one single-threaded executor. Ownership: shared (the stream holds the core; the
// carriers hold it while they carry it).
#pragma once

#include <asio/any_io_executor.hpp>
#include <chrono>
#include <memory>

#include "core/byte_stream.h"
#include "core/signal.h"
#include "transport/cdn/channel.h"

namespace culvert::cdn {

struct ChannelCore {
  ChannelCore(const asio::any_io_executor& executor, const Key& send_key, const Key& receive_key,
              ChannelLimits limits = {})
      : channel(send_key, receive_key, limits), readable(executor), writable(executor), outgoing(executor) {}

  // A carrier received body bytes: apply them and wake whoever waits. A failure (a changed or
  // foreign segment) is returned and does not touch the session: that request is answered as
  // the cover would, and the session goes on with the next one.
  Result<void> receive_bytes(SegmentParser& parser, ByteSpan bytes);
  // A request's ticket (Channel::take_ticket); the acknowledgement it carries may open the window.
  std::optional<std::uint32_t> take_ticket(const SegmentParser::Segment& segment);
  std::optional<std::uint32_t> take_ticket(ByteSpan segment_bytes);
  // The session is over (the stream's user closed it, the peer aborted, or it idled out).
  void fail(std::error_code ec);
  // Data received and not acknowledged reached `threshold` bytes, or some is unacknowledged and
  // `delay` passed since it came: an acknowledgement should go out now.
  bool ack_due(std::size_t threshold, std::chrono::milliseconds delay) const;

  Channel channel;
  Signal readable;  // delivered data, the peer's end, or failure
  Signal writable;  // the send window opened
  Signal outgoing;  // new segments or an acknowledgement to carry
  bool closed = false;
  std::error_code error;
  std::chrono::steady_clock::time_point last_heard = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point unacked_since{};
};

class ChannelStream : public ByteStream {
 public:
  explicit ChannelStream(std::shared_ptr<ChannelCore> core) : core_(std::move(core)) {}
  ~ChannelStream() override { close(); }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buffer) override;
  bool readable_now() override;
  asio::awaitable<std::tuple<std::error_code>> wait_readable() override { return core_->readable.wait(); }
  asio::awaitable<std::error_code> write_all(asio::const_buffer buffer) override;
  asio::awaitable<void> shutdown_send() override;
  void close() override;
  void reset() override { close(); }
  const std::shared_ptr<ChannelCore>& core() const { return core_; }

 private:
  std::shared_ptr<ChannelCore> core_;
  std::size_t read_pos_ = 0;
};

}  // namespace culvert::cdn
