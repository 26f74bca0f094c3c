#include "quic/transport_parameters.h"

#include <utility>

#include "crypto/crypto.h"

namespace culvert::quic {
namespace {

constexpr std::uint64_t kVarintLimit = std::uint64_t{1} << 62;
// The connection option Chromium 156 sends in Google's parameter.
constexpr std::uint8_t kConnectionOptions[] = {'O', 'R', 'I', 'G'};
constexpr std::size_t kMaxGreaseLength = 16;

void write_u32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void write_parameter(Bytes& out, std::uint64_t id, ByteSpan value) {
  write_varint(out, id);
  write_varint(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
}

void write_integer_parameter(Bytes& out, std::uint64_t id, std::uint64_t value) {
  Bytes encoded;
  write_varint(encoded, value);
  write_parameter(out, id, encoded);
}

}  // namespace

void write_varint(Bytes& out, std::uint64_t value) {
  if (value < 0x40) {
    out.push_back(static_cast<std::uint8_t>(value));
  } else if (value < 0x4000) {
    out.push_back(static_cast<std::uint8_t>(0x40 | (value >> 8)));
    out.push_back(static_cast<std::uint8_t>(value));
  } else if (value < 0x40000000) {
    write_u32(out, static_cast<std::uint32_t>(value) | 0x80000000u);
  } else {
    value = (value & (kVarintLimit - 1)) | (std::uint64_t{3} << 62);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

Result<Varint> read_varint(ByteSpan bytes) {
  if (bytes.empty()) return fail(Errc::truncated);
  Varint v;
  v.length = std::size_t{1} << (bytes[0] >> 6);
  if (bytes.size() < v.length) return fail(Errc::truncated);
  v.value = bytes[0] & 0x3f;
  for (std::size_t i = 1; i < v.length; ++i) v.value = (v.value << 8) | bytes[i];
  return v;
}

TransportParameterRandomness TransportParameterRandomness::draw() {
  TransportParameterRandomness r;
  std::array<std::uint8_t, 8> id{};
  crypto::random_bytes(id);
  std::uint64_t n = 0;
  for (auto b : id) n = (n << 8) | b;
  r.grease_multiplier = (n & (kVarintLimit - 1)) / 31;  // keeps 31 * n + 27 below 2^62
  r.grease_value = crypto::random_bytes(crypto::random_below(kMaxGreaseLength));
  std::array<std::uint8_t, 4> version{};
  crypto::random_bytes(version);
  r.grease_version = 0;
  for (auto b : version) r.grease_version = (r.grease_version << 8) | ((b & 0xf0) | 0x0a);
  r.grease_version_first = crypto::random_below(2) == 1;
  for (std::size_t i = 0; i < r.order.size(); ++i) r.order[i] = static_cast<std::uint8_t>(i);
  for (std::size_t i = r.order.size() - 1; i > 0; --i)
    std::swap(r.order[i], r.order[crypto::random_below(static_cast<std::uint32_t>(i + 1))]);
  return r;
}

Bytes encode_chromium_transport_parameters(const ChromiumTransportValues& v, const TransportParameterRandomness& r) {
  Bytes out;
  for (std::uint8_t index : r.order) {
    switch (index) {
      case 0:
        write_integer_parameter(out, tp::kMaxIdleTimeout, v.max_idle_timeout_ms);
        break;
      case 1:
        write_integer_parameter(out, tp::kMaxUdpPayloadSize, v.max_udp_payload_size);
        break;
      case 2:
        write_integer_parameter(out, tp::kInitialMaxData, v.initial_max_data);
        break;
      case 3:
        write_integer_parameter(out, tp::kInitialMaxStreamDataBidiLocal, v.initial_max_stream_data);
        break;
      case 4:
        write_integer_parameter(out, tp::kInitialMaxStreamDataBidiRemote, v.initial_max_stream_data);
        break;
      case 5:
        write_integer_parameter(out, tp::kInitialMaxStreamDataUni, v.initial_max_stream_data);
        break;
      case 6:
        write_integer_parameter(out, tp::kInitialMaxStreamsBidi, v.initial_max_streams_bidi);
        break;
      case 7:
        write_integer_parameter(out, tp::kInitialMaxStreamsUni, v.initial_max_streams_uni);
        break;
      case 8:
        write_parameter(out, tp::kInitialSourceConnectionId, v.initial_source_connection_id);
        break;
      case 9: {
        Bytes info;
        write_u32(info, v.version);  // chosen
        if (r.grease_version_first) write_u32(info, r.grease_version);
        write_u32(info, v.version);  // available
        if (!r.grease_version_first) write_u32(info, r.grease_version);
        write_parameter(out, tp::kVersionInformation, info);
        break;
      }
      case 10:
        write_integer_parameter(out, tp::kMaxDatagramFrameSize, v.max_datagram_frame_size);
        break;
      case 11:
        write_parameter(out, tp::kGoogleConnectionOptions, kConnectionOptions);
        break;
      case 12:
        write_parameter(out, 31 * r.grease_multiplier + 27, r.grease_value);
        break;
      default:
        break;
    }
  }
  return out;
}

Bytes without_transport_parameter(ByteSpan parameters, std::uint64_t id) {
  Bytes out;
  std::size_t pos = 0;
  while (pos < parameters.size()) {
    auto type = read_varint(parameters.subspan(pos));
    if (!type) return Bytes(parameters.begin(), parameters.end());
    auto length = read_varint(parameters.subspan(pos + type->length));
    if (!length) return Bytes(parameters.begin(), parameters.end());
    std::size_t end = pos + type->length + length->length + length->value;
    if (length->value > parameters.size() || end > parameters.size())
      return Bytes(parameters.begin(), parameters.end());
    if (type->value != id)
      out.insert(out.end(), parameters.begin() + static_cast<std::ptrdiff_t>(pos),
                 parameters.begin() + static_cast<std::ptrdiff_t>(end));
    pos = end;
  }
  return out;
}

}  // namespace culvert::quic
