#include "transport/cdn/channel_stream.h"

#include <asio/error.hpp>
#include <cstring>

namespace culvert::cdn {

Result<void> ChannelCore::receive_bytes(SegmentParser& parser, ByteSpan bytes) {
  std::size_t room_before = channel.send_room();
  std::size_t delivered_before = channel.delivered().size();
  std::size_t unacked_before = channel.unacknowledged_received();
  auto received = channel.receive_bytes(parser, bytes);
  last_heard = std::chrono::steady_clock::now();
  if (channel.delivered().size() != delivered_before || channel.peer_finished() || channel.peer_aborted())
    readable.notify();
  if (channel.send_room() > room_before) writable.notify();
  if (unacked_before == 0 && channel.unacknowledged_received() > 0) unacked_since = last_heard;
  if (channel.unacknowledged_received() > 0) outgoing.notify();
  if (channel.peer_aborted()) fail(make_error_code(Errc::stream_reset));
  return received;
}

std::optional<std::uint32_t> ChannelCore::take_ticket(const SegmentParser::Segment& segment) {
  std::size_t room_before = channel.send_room();
  auto ack = channel.take_ticket(segment);
  if (ack) last_heard = std::chrono::steady_clock::now();
  if (channel.send_room() > room_before) writable.notify();
  return ack;
}

std::optional<std::uint32_t> ChannelCore::take_ticket(ByteSpan segment_bytes) {
  std::size_t room_before = channel.send_room();
  auto ack = channel.take_ticket(segment_bytes);
  if (ack) last_heard = std::chrono::steady_clock::now();
  if (channel.send_room() > room_before) writable.notify();
  return ack;
}

void ChannelCore::fail(std::error_code ec) {
  if (closed) return;
  closed = true;
  error = ec;
  readable.notify();
  writable.notify();
  outgoing.notify();
}

bool ChannelCore::ack_due(std::size_t threshold, std::chrono::milliseconds delay) const {
  std::size_t n = channel.unacknowledged_received();
  if (n == 0) return false;
  if (n >= threshold) return true;
  return std::chrono::steady_clock::now() - unacked_since >= delay;
}

bool ChannelStream::readable_now() {
  return core_->closed || core_->channel.peer_finished() || read_pos_ < core_->channel.delivered().size();
}

asio::awaitable<IoResult> ChannelStream::read_some(asio::mutable_buffer buffer) {
  for (;;) {
    Bytes& delivered = core_->channel.delivered();
    if (read_pos_ < delivered.size()) {
      std::size_t n = std::min(buffer.size(), delivered.size() - read_pos_);
      std::memcpy(buffer.data(), delivered.data() + read_pos_, n);
      read_pos_ += n;
      if (read_pos_ == delivered.size()) {
        delivered.clear();
        read_pos_ = 0;
      }
      co_return IoResult{std::error_code{}, n};
    }
    if (core_->channel.peer_finished()) co_return IoResult{asio::error::eof, 0};
    if (core_->closed) co_return IoResult{core_->error ? core_->error : asio::error::connection_reset, 0};
    co_await core_->readable.wait();
  }
}

asio::awaitable<std::error_code> ChannelStream::write_all(asio::const_buffer buffer) {
  ByteSpan rest(static_cast<const std::uint8_t*>(buffer.data()), buffer.size());
  while (!rest.empty()) {
    if (core_->closed) co_return core_->error ? core_->error : make_error_code(Errc::tunnel_closed);
    if (core_->channel.finished_sending()) co_return make_error_code(asio::error::shut_down);
    std::size_t room = core_->channel.send_room();
    if (room == 0) {
      co_await core_->writable.wait();
      continue;
    }
    std::size_t n = std::min({rest.size(), room, kMaxSegmentData});
    core_->channel.push(rest.first(n));
    rest = rest.subspan(n);
    core_->outgoing.notify();
  }
  co_return std::error_code{};
}

asio::awaitable<void> ChannelStream::shutdown_send() {
  if (core_->closed || core_->channel.finished_sending()) co_return;
  core_->channel.push({}, kFin);
  core_->outgoing.notify();
}

void ChannelStream::close() {
  if (core_->closed) return;
  // Tell the peer (best effort: the carriers send what is queued before they stop).
  if (!core_->channel.finished_sending()) core_->channel.push({}, kAbort);
  core_->outgoing.notify();
  core_->fail(make_error_code(Errc::tunnel_closed));
}

}  // namespace culvert::cdn
