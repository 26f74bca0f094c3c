#include "mux/frame.h"

namespace culvert::mux {

Result<std::optional<Frame>> decode_frame(ByteSpan input, std::size_t& consumed) {
  consumed = 0;
  if (input.size() < kHeaderSize) return std::optional<Frame>();
  Reader r(input);
  auto type = *r.u8();
  auto flags = *r.u8();
  auto length = *r.u16();
  auto stream_id = *r.u32();
  if (length > kMaxPayload) return fail(Errc::too_large);
  if (type < static_cast<std::uint8_t>(FrameType::open) || type > static_cast<std::uint8_t>(FrameType::datagram))
    return fail(Errc::protocol_violation);
  Frame f{static_cast<FrameType>(type), flags, stream_id, {}};
  bool connection_level = f.type == FrameType::ping || f.type == FrameType::padding || f.type == FrameType::goaway;
  if (connection_level != (stream_id == 0)) return fail(Errc::protocol_violation);
  switch (f.type) {
    case FrameType::fin:
    case FrameType::goaway:
      if (length != 0) return fail(Errc::protocol_violation);
      break;
    case FrameType::reset:
      if (length != 1) return fail(Errc::protocol_violation);
      break;
    case FrameType::window:
      if (length != 4) return fail(Errc::protocol_violation);
      break;
    case FrameType::ping:
      if (length != 8) return fail(Errc::protocol_violation);
      break;
    case FrameType::open:
      if (length < 4) return fail(Errc::protocol_violation);
      break;
    case FrameType::datagram:
      if (length == 0) return fail(Errc::protocol_violation);
      break;
    default:
      break;
  }
  if (input.size() < kHeaderSize + length) return std::optional<Frame>();
  f.payload = input.subspan(kHeaderSize, length);
  consumed = kHeaderSize + length;
  return std::optional<Frame>(f);
}

void encode_header(FrameType type, std::uint8_t flags, std::uint32_t stream_id, std::size_t length, Bytes& out) {
  Writer w(out);
  w.u8(static_cast<std::uint8_t>(type));
  w.u8(flags);
  w.u16(static_cast<std::uint16_t>(length));
  w.u32(stream_id);
}

void encode_frame(FrameType type, std::uint8_t flags, std::uint32_t stream_id, ByteSpan payload, Bytes& out) {
  encode_header(type, flags, stream_id, payload.size(), out);
  out.insert(out.end(), payload.begin(), payload.end());
}

void encode_open_payload(const Destination& destination, ByteSpan first_data, Bytes& out) {
  encode_destination(destination, out);
  out.insert(out.end(), first_data.begin(), first_data.end());
}

Result<OpenPayload> decode_open_payload(ByteSpan payload) {
  Reader r(payload);
  auto d = decode_destination(r);
  if (!d) return fail(Errc::protocol_violation);
  return OpenPayload{*d, r.rest()};
}

}  // namespace culvert::mux
