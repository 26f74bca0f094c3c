#include "lab/quic_initial.h"

#include <algorithm>
#include <optional>

#include "quic/packet_protection.h"
#include "quic/transport_parameters.h"

namespace culvert::lab {
namespace {

constexpr std::size_t kMaxCryptoBytes = 64 * 1024;

// A QUIC variable-length integer (RFC 9000 §16), consumed from `r`.
std::optional<std::uint64_t> varint(Reader& r) {
  auto v = quic::read_varint(r.rest());
  if (!v) return std::nullopt;
  r.take(v->length);
  return v->value;
}

}  // namespace

Result<void> parse_initial_frames(ByteSpan payload, QuicInitialPacket& packet) {
  Reader r(payload);
  while (r.remaining()) {
    auto type = varint(r);
    if (!type) return fail(Errc::malformed);
    switch (*type) {
      case 0x00: {
        std::size_t run = 1;
        while (r.remaining() && r.rest()[0] == 0) {
          r.u8();
          ++run;
        }
        packet.padding_bytes += run;
        break;
      }
      case 0x01:
        break;
      case 0x02:
      case 0x03: {
        auto largest = varint(r), delay = varint(r), ranges = varint(r), first = varint(r);
        if (!largest || !delay || !ranges || !first || *ranges > r.remaining()) return fail(Errc::malformed);
        for (std::uint64_t i = 0; i < *ranges * 2 + (*type == 0x03 ? 3 : 0); ++i)
          if (!varint(r)) return fail(Errc::malformed);
        break;
      }
      case 0x06: {
        auto offset = varint(r), length = varint(r);
        if (!offset || !length) return fail(Errc::malformed);
        auto data = r.take(*length);
        if (!data || *offset + *length > kMaxCryptoBytes) return fail(Errc::malformed);
        packet.crypto.push_back({*offset, Bytes(data->begin(), data->end())});
        break;
      }
      case 0x1c: {
        auto code = varint(r), frame = varint(r), reason_length = varint(r);
        if (!code || !frame || !reason_length || !r.take(*reason_length)) return fail(Errc::malformed);
        break;
      }
      default:
        return fail(Errc::malformed);
    }
    packet.frame_types.push_back(*type);
  }
  return {};
}

Result<QuicInitialPacket> open_client_initial(ByteSpan datagram) {
  Reader r(datagram);
  auto first = r.u8();
  auto version = r.u32();
  if (!first || !version) return fail(Errc::truncated);
  if ((*first & 0xc0) != 0xc0) return fail(Errc::unsupported);  // not a long header with the fixed bit
  if (*version != kQuicV1 && *version != kQuicV2) return fail(Errc::unsupported);
  std::uint8_t type = (*first >> 4) & 0x03;
  if (type != (*version == kQuicV2 ? 1 : 0)) return fail(Errc::unsupported);
  QuicInitialPacket packet;
  packet.version = *version;
  auto dcid = r.prefixed(1);
  if (!dcid || dcid->size() > 20) return fail(Errc::malformed);
  auto scid = r.prefixed(1);
  if (!scid || scid->size() > 20) return fail(Errc::malformed);
  auto token_length = varint(r);
  if (!token_length) return fail(Errc::malformed);
  auto token = r.take(*token_length);
  auto length = varint(r);
  if (!token || !length) return fail(Errc::malformed);
  std::size_t pn_offset = r.position();
  if (*length > r.remaining() || *length < 4 + quic::kSampleSize) return fail(Errc::malformed);
  packet.destination_id.assign(dcid->begin(), dcid->end());
  packet.source_id.assign(scid->begin(), scid->end());
  packet.token.assign(token->begin(), token->end());
  packet.packet_size = pn_offset + *length;

  auto secrets = quic::initial_secrets(*dcid, *version);
  if (!secrets) return fail(Errc::malformed);
  auto keys = quic::packet_keys(quic::initial_suite(), secrets->client, *version);
  if (!keys) return fail(Errc::malformed);
  // A client's first packets carry small numbers (Chromium starts at 1): no packet received yet.
  auto opened = quic::unprotect_packet(*keys, datagram.first(packet.packet_size), pn_offset, -1);
  if (!opened) return fail(Errc::malformed);
  packet.packet_number = opened->packet_number;
  packet.packet_number_length = opened->packet_number_length;
  if (auto frames = parse_initial_frames(opened->payload, packet); !frames) return fail(frames.error());
  return packet;
}

bool is_grease_transport_parameter(std::uint64_t id) { return id >= 27 && (id - 27) % 31 == 0; }

Result<std::vector<QuicTransportParameter>> parse_transport_parameters(ByteSpan body) {
  Reader r(body);
  std::vector<QuicTransportParameter> out;
  while (r.remaining()) {
    auto id = varint(r), length = varint(r);
    if (!id || !length) return fail(Errc::malformed);
    auto value = r.take(*length);
    if (!value) return fail(Errc::malformed);
    out.push_back({*id, Bytes(value->begin(), value->end())});
  }
  return out;
}

Result<QuicClientInitial> read_client_initial(std::span<const ByteSpan> datagrams) {
  std::vector<QuicInitialPacket> packets;
  std::vector<std::size_t> sizes;
  for (ByteSpan datagram : datagrams) {
    auto packet = open_client_initial(datagram);
    if (!packet) continue;
    if (!packets.empty() && packet->destination_id != packets.front().destination_id) continue;
    sizes.push_back(datagram.size());
    packets.push_back(std::move(*packet));
  }
  auto result = client_initial_from_packets(std::move(packets));
  if (result) result->datagram_sizes = std::move(sizes);
  return result;
}

Result<QuicClientInitial> client_initial_from_packets(std::vector<QuicInitialPacket> packets) {
  QuicClientInitial result;
  Bytes stream;
  std::vector<bool> have;
  for (auto& packet : packets) {
    for (const auto& chunk : packet.crypto) {
      if (chunk.offset > kMaxCryptoBytes || chunk.data.size() > kMaxCryptoBytes - chunk.offset) continue;
      std::size_t end = chunk.offset + chunk.data.size();
      if (end > stream.size()) {
        stream.resize(end);
        have.resize(end, false);
      }
      std::copy(chunk.data.begin(), chunk.data.end(), stream.begin() + static_cast<std::ptrdiff_t>(chunk.offset));
      std::fill_n(have.begin() + static_cast<std::ptrdiff_t>(chunk.offset), chunk.data.size(), true);
    }
    result.packets.push_back(std::move(packet));
  }
  if (result.packets.empty()) return fail(Errc::malformed);
  std::size_t contiguous = static_cast<std::size_t>(std::find(have.begin(), have.end(), false) - have.begin());
  auto hello = parse_client_hello_message(ByteSpan(stream).first(contiguous));
  if (!hello) return fail(hello.error());
  hello->over_quic = true;
  result.hello = std::move(*hello);
  auto parameters = parse_transport_parameters(result.hello.quic_transport_parameters);
  if (!parameters) return fail(parameters.error());
  result.transport_parameters = std::move(*parameters);
  return result;
}

std::string quic_fingerprint(const QuicClientInitial& initial) {
  // Sorted, as JA4 sorts extensions: Chromium shuffles its transport parameters per connection.
  std::vector<std::uint64_t> ids;
  std::size_t grease = 0;
  for (const auto& parameter : initial.transport_parameters) {
    if (is_grease_transport_parameter(parameter.id))
      ++grease;
    else
      ids.push_back(parameter.id);
  }
  std::sort(ids.begin(), ids.end());
  std::string out = ja4(initial.hello) + " tp=";
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  for (std::size_t i = 0; i < grease; ++i) out += ",G";
  out += " size=" + (initial.datagram_sizes.empty() ? std::string("0") : std::to_string(initial.datagram_sizes[0]));
  return out;
}

}  // namespace culvert::lab
