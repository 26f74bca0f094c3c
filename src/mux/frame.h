// Mux frame codec (pure, no I/O). Every frame is an 8-byte header and a payload:
//
//   type u8 | flags u8 | length u16 | stream_id u32 | payload[length]
//
// Layout, types and rules are in docs/protocol.md. The framing version is carried once per tunnel
// in the authentication preamble (transport/tls/auth.h), not in every frame.
#pragma once

#include <cstdint>
#include <optional>

#include "core/bytes.h"
#include "core/destination.h"
#include "core/result.h"

namespace culvert::mux {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kMaxPayload = 16 * 1024;

enum class FrameType : std::uint8_t {
  open = 1,      // stream_id != 0; payload = destination (ATYP, addr, port) + first data
  data = 2,      // stream_id != 0; payload = bytes, counted against the receiver's window
  fin = 3,       // stream_id != 0; empty; sender will send no more data on the stream
  reset = 4,     // stream_id != 0; payload = 1 byte ResetReason
  window = 5,    // stream_id != 0; payload = u32 increment of the sender's receive window
  ping = 6,      // stream_id == 0; payload = 8 opaque bytes; flag kFlagAck marks the reply
  padding = 7,   // stream_id == 0; payload ignored (hides the shape of the inner traffic)
  goaway = 8,    // stream_id == 0; empty; the sender accepts no new streams
  datagram = 9,  // stream_id != 0 (a datagram association); payload = a fragment of destination + datagram
};

inline constexpr std::uint8_t kFlagAck = 0x01;
// OPEN: the stream is a datagram association (UDP), not a byte stream.
inline constexpr std::uint8_t kFlagDatagram = 0x02;
// DATAGRAM: more fragments of the same datagram follow (datagrams are longer than one frame).
inline constexpr std::uint8_t kFlagMore = 0x02;
// Largest datagram carried (the largest UDP payload over IPv4) and its reassembled encoding.
inline constexpr std::size_t kMaxDatagram = 65507;
inline constexpr std::size_t kMaxDatagramEncoding = kMaxDatagram + 1 + 1 + 255 + 2;

enum class ResetReason : std::uint8_t {
  cancelled = 0,
  dial_failed = 1,
  refused = 2,  // SSRF guard or policy
  protocol_error = 3,
  timed_out = 4,
};

struct Frame {
  FrameType type;
  std::uint8_t flags = 0;
  std::uint32_t stream_id = 0;
  ByteSpan payload;  // points into the decoder's input
};

// Decodes one frame from the front of `input`. Returns std::nullopt when `input` holds only part of
// a frame (read more); an error when the bytes break the rules above (close the tunnel).
// On success `consumed` is the frame's full size.
Result<std::optional<Frame>> decode_frame(ByteSpan input, std::size_t& consumed);

void encode_header(FrameType type, std::uint8_t flags, std::uint32_t stream_id, std::size_t length, Bytes& out);
void encode_frame(FrameType type, std::uint8_t flags, std::uint32_t stream_id, ByteSpan payload, Bytes& out);

// OPEN payload helpers.
void encode_open_payload(const Destination& destination, ByteSpan first_data, Bytes& out);
struct OpenPayload {
  Destination destination;
  ByteSpan first_data;
};
Result<OpenPayload> decode_open_payload(ByteSpan payload);

}  // namespace culvert::mux
