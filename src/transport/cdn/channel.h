// The CDN transport's reliable, encrypted byte channel: one session's two directions cut into
// numbered, sealed segments that survive being carried by many HTTP requests, any of which a CDN
// may buffer, reorder, cut or repeat.
//
//   segment := number u32 | length u16 | sealed[length]
//   sealed  := ChaCha20-Poly1305(direction key, nonce = number, ad = number||length,
//                                ack u32 | flags u8 | data)
//
// Numbers below 2^31 are data segments, delivered in order exactly once; a segment is never
// changed once sealed, so a resent segment is the same bytes under the same nonce. Numbers from
// 2^31 up are acknowledgements only (nothing to deliver), each sealed under a fresh number and
// never resent. `ack` is the next data number the sender expects from its peer: everything below
// it arrived, and the peer may forget it. flags: 1 = FIN (the sender's last data segment),
// 2 = ABORT (the session failed; the peer resets everything).
// Every client request carries a fresh acknowledgement segment as its ticket (first in an upload's
// body, base64url in a download's path): the server accepts each ticket once (a window of 1,024
// numbers behind the highest), so a request replayed by anyone on the way is not part of the
// session and meets the cover.
// Pure code: no I/O. Not thread-safe; one Channel per session side.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>

#include "core/bytes.h"
#include "core/result.h"
#include "transport/cdn/noise.h"

namespace culvert::cdn {

inline constexpr std::size_t kSegmentHeader = 6;
inline constexpr std::size_t kMaxSegmentData = 16384;
inline constexpr std::size_t kSegmentTrailer = 5 + kAeadTag;  // ack, flags, tag
inline constexpr std::size_t kMaxSegmentSize = kSegmentHeader + kMaxSegmentData + kSegmentTrailer;
inline constexpr std::uint32_t kAckOnlyBase = 0x80000000u;

enum SegmentFlags : std::uint8_t { kFin = 1, kAbort = 2 };

// Splits a byte stream (an HTTP body) into segments. Each body starts at a segment boundary.
class SegmentParser {
 public:
  struct Segment {
    std::uint32_t number = 0;
    ByteSpan header;  // the 6 header bytes (the associated data)
    ByteSpan sealed;
  };
  void feed(ByteSpan bytes);
  // The next complete segment (valid until the next call), or nothing yet. Errc::malformed for
  // a length no sender writes.
  Result<std::optional<Segment>> next();
  // Bytes of an incomplete segment held back.
  std::size_t pending() const { return buffer_.size() - pos_; }

 private:
  Bytes buffer_;
  std::size_t pos_ = 0;
};

struct ChannelLimits {
  // Data bytes sent and not yet acknowledged before the sender stops taking more.
  std::size_t send_window = 8 << 20;
  // Data bytes received ahead of the next expected segment (concurrent uploads may arrive out of
  // order); beyond this a segment is refused.
  std::size_t reorder_limit = 16 << 20;
};

class Channel {
 public:
  // `send_key` seals what this side sends, `receive_key` opens what it receives.
  Channel(const Key& send_key, const Key& receive_key, ChannelLimits limits = {});

  // --- sending ---
  // Room for this many more data bytes before the window is full.
  std::size_t send_room() const;
  // Seals `data` (at most kMaxSegmentData bytes) as the next data segment; `flags` FIN/ABORT.
  void push(ByteSpan data, std::uint8_t flags = 0);
  // The next data segment number, and the oldest one kept (not yet acknowledged).
  std::uint32_t next_number() const { return next_number_; }
  std::uint32_t oldest_kept() const { return next_number_ - static_cast<std::uint32_t>(kept_.size()); }
  // The sealed bytes of a kept data segment (number in [oldest_kept(), next_number())).
  ByteSpan segment(std::uint32_t number) const;
  // A fresh acknowledgement-only segment carrying the current ack.
  Bytes ack_segment();
  // Whether the peer has data this side has not acknowledged yet, and how much.
  std::size_t unacknowledged_received() const { return received_since_ack_; }
  std::size_t unacked_sent_bytes() const { return kept_bytes_; }

  // --- receiving ---
  // Opens one segment and applies it. Errc::auth_failed if it does not authenticate (changed on
  // the way, or not from this session), Errc::too_large past the reorder limit.
  Result<void> receive(const SegmentParser::Segment& segment);
  // Feeds an HTTP body's bytes: every complete segment is received; stops at the first error.
  Result<void> receive_bytes(SegmentParser& parser, ByteSpan bytes);
  // A request's ticket: an acknowledgement segment that authenticates and was not seen before.
  // Returns the acknowledgement it carries (and applies it); nothing for anything else.
  std::optional<std::uint32_t> take_ticket(const SegmentParser::Segment& segment);
  // The same from one whole segment's bytes (a download's path).
  std::optional<std::uint32_t> take_ticket(ByteSpan segment_bytes);
  // In-order data waiting for the reader.
  Bytes& delivered() { return delivered_; }
  std::uint32_t next_expected() const { return next_expected_; }
  bool peer_finished() const { return peer_fin_; }  // FIN delivered: no more data
  bool peer_aborted() const { return peer_abort_; }
  bool finished_sending() const { return fin_sent_; }

 private:
  void note_ack(std::uint32_t ack);
  void deliver(std::uint8_t flags, ByteSpan data);
  Bytes seal(std::uint32_t number, std::uint8_t flags, ByteSpan data);

  ChannelLimits limits_;
  Aead send_;
  Aead receive_;
  std::uint32_t next_number_ = 0;
  std::uint32_t next_ack_number_ = kAckOnlyBase;
  std::deque<Bytes> kept_;  // sealed data segments from oldest_kept()
  std::size_t kept_bytes_ = 0;
  bool fin_sent_ = false;

  std::uint32_t next_expected_ = 0;
  std::map<std::uint32_t, std::pair<std::uint8_t, Bytes>> ahead_;  // out of order: flags, data
  std::size_t ahead_bytes_ = 0;
  Bytes delivered_;
  std::size_t received_since_ack_ = 0;
  bool peer_fin_ = false;
  bool peer_abort_ = false;
  Bytes scratch_;
  // Tickets seen: the highest number, and which of the 1,024 below it.
  std::uint32_t highest_ticket_ = 0;
  std::array<std::uint64_t, 16> ticket_window_{};
};

}  // namespace culvert::cdn
