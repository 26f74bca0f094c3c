#include "transport/cdn/channel.h"

#include <algorithm>
#include <cstring>

namespace culvert::cdn {
namespace {

void put_header(std::uint32_t number, std::size_t sealed_length, std::uint8_t out[kSegmentHeader]) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(number >> (24 - 8 * i));
  out[4] = static_cast<std::uint8_t>(sealed_length >> 8);
  out[5] = static_cast<std::uint8_t>(sealed_length);
}

}  // namespace

void SegmentParser::feed(ByteSpan bytes) {
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<SegmentParser::Segment>> SegmentParser::next() {
  if (pos_ > 0 && pos_ * 2 > buffer_.size()) {  // keep the buffer from growing without bound
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  if (buffer_.size() - pos_ < kSegmentHeader) return std::optional<Segment>{};
  const std::uint8_t* p = buffer_.data() + pos_;
  std::uint32_t number = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
  std::size_t length = (std::size_t{p[4]} << 8) | p[5];
  if (length < kSegmentTrailer || length > kMaxSegmentData + kSegmentTrailer) return fail(Errc::malformed);
  if (buffer_.size() - pos_ < kSegmentHeader + length) return std::optional<Segment>{};
  Segment s{number, ByteSpan(p, kSegmentHeader), ByteSpan(p + kSegmentHeader, length)};
  pos_ += kSegmentHeader + length;
  return std::optional<Segment>(s);
}

Channel::Channel(const Key& send_key, const Key& receive_key, ChannelLimits limits)
    : limits_(limits), send_(send_key), receive_(receive_key) {}

std::size_t Channel::send_room() const {
  return kept_bytes_ >= limits_.send_window ? 0 : limits_.send_window - kept_bytes_;
}

Bytes Channel::seal(std::uint32_t number, std::uint8_t flags, ByteSpan data) {
  std::uint8_t header[kSegmentHeader];
  put_header(number, data.size() + kSegmentTrailer, header);
  Bytes out(header, header + kSegmentHeader);
  out.reserve(kSegmentHeader + data.size() + kSegmentTrailer);
  Bytes plain;
  plain.reserve(5 + data.size());
  Writer w(plain);
  w.u32(next_expected_);
  w.u8(flags);
  w.bytes(data);
  send_.seal(number, ByteSpan(header, kSegmentHeader), plain, out);  // `out` grows: not its own header
  return out;
}

void Channel::push(ByteSpan data, std::uint8_t flags) {
  data = data.first(std::min(data.size(), kMaxSegmentData));
  kept_.push_back(seal(next_number_++, flags, data));
  kept_bytes_ += kept_.back().size();
  received_since_ack_ = 0;  // this segment carries the ack
  if (flags & (kFin | kAbort)) fin_sent_ = true;
}

ByteSpan Channel::segment(std::uint32_t number) const {
  if (number < oldest_kept() || number >= next_number_) return {};
  return kept_[number - oldest_kept()];
}

Bytes Channel::ack_segment() {
  received_since_ack_ = 0;
  std::uint32_t number = next_ack_number_++;
  if (next_ack_number_ == 0) next_ack_number_ = kAckOnlyBase;  // 2^31 acks: practically never
  return seal(number, 0, {});
}

void Channel::note_ack(std::uint32_t ack) {
  // Everything below `ack` arrived: forget it. An ack beyond what was sent is ignored.
  if (ack > next_number_) return;
  while (oldest_kept() < ack && !kept_.empty()) {
    kept_bytes_ -= kept_.front().size();
    kept_.pop_front();
  }
}

void Channel::deliver(std::uint8_t flags, ByteSpan data) {
  delivered_.insert(delivered_.end(), data.begin(), data.end());
  received_since_ack_ += data.size() + 1;
  ++next_expected_;
  if (flags & kFin) peer_fin_ = true;
  if (flags & kAbort) peer_abort_ = true;
}

Result<void> Channel::receive(const SegmentParser::Segment& segment) {
  if (!receive_.open(segment.number, segment.header, segment.sealed, scratch_)) return fail(Errc::auth_failed);
  Reader r(scratch_);
  std::uint32_t ack = *r.u32();
  std::uint8_t flags = *r.u8();
  ByteSpan data = r.rest();
  note_ack(ack);
  if (segment.number >= kAckOnlyBase) return {};
  if (peer_fin_ || peer_abort_ || segment.number < next_expected_) return {};  // a repeat
  if (segment.number > next_expected_) {
    if (ahead_.count(segment.number)) return {};
    if (ahead_bytes_ + data.size() > limits_.reorder_limit) return fail(Errc::too_large);
    ahead_bytes_ += data.size();
    ahead_.emplace(segment.number, std::make_pair(flags, Bytes(data.begin(), data.end())));
    return {};
  }
  deliver(flags, data);
  for (auto it = ahead_.begin(); it != ahead_.end() && it->first == next_expected_ && !peer_fin_;) {
    ahead_bytes_ -= it->second.second.size();
    deliver(it->second.first, it->second.second);
    it = ahead_.erase(it);
  }
  return {};
}

std::optional<std::uint32_t> Channel::take_ticket(const SegmentParser::Segment& segment) {
  if (segment.number < kAckOnlyBase) return std::nullopt;
  if (!receive_.open(segment.number, segment.header, segment.sealed, scratch_)) return std::nullopt;
  std::uint32_t n = segment.number - kAckOnlyBase + 1;  // 1-based: 0 means "none yet"
  constexpr std::uint32_t kWindow = 1024;
  auto bit = [this](std::uint32_t k) -> std::uint64_t& { return ticket_window_[(k / 64) % 16]; };
  if (n > highest_ticket_) {
    // Slide: forget the numbers that fall out of the window.
    for (std::uint32_t k = highest_ticket_ + 1; k <= n && k - highest_ticket_ <= kWindow; ++k)
      bit(k) &= ~(std::uint64_t{1} << (k % 64));
    if (n - highest_ticket_ > kWindow) ticket_window_.fill(0);
    highest_ticket_ = n;
  } else if (highest_ticket_ - n >= kWindow) {
    return std::nullopt;  // too old to tell: refused
  }
  std::uint64_t mask = std::uint64_t{1} << (n % 64);
  if (bit(n) & mask) return std::nullopt;  // seen: a replay
  bit(n) |= mask;
  Reader r(scratch_);
  std::uint32_t ack = *r.u32();
  note_ack(ack);
  return ack;
}

std::optional<std::uint32_t> Channel::take_ticket(ByteSpan segment_bytes) {
  SegmentParser parser;
  parser.feed(segment_bytes);
  auto segment = parser.next();
  if (!segment || !*segment || parser.pending() != 0) return std::nullopt;
  return take_ticket(**segment);
}

Result<void> Channel::receive_bytes(SegmentParser& parser, ByteSpan bytes) {
  parser.feed(bytes);
  for (;;) {
    auto segment = parser.next();
    if (!segment) return fail(segment.error());
    if (!*segment) return {};
    if (auto received = receive(**segment); !received) return received;
  }
}

}  // namespace culvert::cdn
