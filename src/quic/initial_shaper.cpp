#include "quic/initial_shaper.h"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "crypto/crypto.h"
#include "quic/transport_parameters.h"

namespace culvert::quic {
namespace {

constexpr std::uint8_t kPadding = 0x00, kPing = 0x01, kAck = 0x02, kAckEcn = 0x03, kCrypto = 0x06;
constexpr std::uint8_t kConnectionClose = 0x1c;
// Chromium numbers its first Initial 1; ngtcp2 starts at 0.
constexpr std::uint64_t kNumberShift = 1;

// `value` as a varint of exactly `length` bytes (RFC 9000 §16 allows longer than shortest).
void put_varint(std::uint8_t* at, std::uint64_t value, std::size_t length) {
  static constexpr std::uint8_t kPrefix[] = {0, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
  for (std::size_t i = 0; i < length; ++i) at[i] = static_cast<std::uint8_t>(value >> (8 * (length - 1 - i)));
  at[0] |= kPrefix[length - 1];
}

// A random number in [0, below).
std::uint32_t draw(std::uint32_t below) {
  std::array<std::uint8_t, 4> b{};
  crypto::random_bytes(b);
  std::uint32_t v = static_cast<std::uint32_t>(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3];
  return below == 0 ? 0 : v % below;
}

struct LongHeader {
  std::size_t length_offset = 0;  // of the Length field
  std::size_t pn_offset = 0;
  std::uint64_t length = 0;  // packet number and payload
};

// A client Initial's long header (RFC 9000 §17.2.2), or nothing for any other packet. The fixed
// bit is not required: a peer that greases it (RFC 9287) may send it cleared.
std::optional<LongHeader> initial_header(ByteSpan d, std::uint32_t version) {
  if (d.size() < 7 || (d[0] & 0x80) == 0) return std::nullopt;
  std::uint32_t v = static_cast<std::uint32_t>(d[1]) << 24 | d[2] << 16 | d[3] << 8 | d[4];
  // The Initial type is 0 in version 1 and 1 in version 2 (RFC 9369 §3.2).
  std::uint8_t type = (d[0] >> 4) & 0x3;
  if (v != version || type != (version == kVersion2 ? 1 : 0)) return std::nullopt;
  std::size_t pos = 5;
  for (int id = 0; id < 2; ++id) {
    if (pos >= d.size()) return std::nullopt;
    pos += 1 + d[pos];
  }
  if (pos >= d.size()) return std::nullopt;
  auto token = read_varint(d.subspan(pos));
  if (!token || token->value > d.size()) return std::nullopt;
  pos += token->length + token->value;
  if (pos >= d.size()) return std::nullopt;
  auto length = read_varint(d.subspan(pos));
  if (!length) return std::nullopt;
  LongHeader h{pos, pos + length->length, length->value};
  if (h.pn_offset + h.length > d.size()) return std::nullopt;
  return h;
}

struct Frames {
  Bytes ack;  // the ACK frame as written, if any
  std::size_t pings = 0;
  struct Chunk {
    std::uint64_t offset;
    Bytes data;
  };
  std::vector<Chunk> crypto;
};

// The frames ngtcp2 puts in a client Initial; nothing for anything else.
std::optional<Frames> read_frames(ByteSpan p) {
  Frames f;
  std::size_t pos = 0;
  auto varint = [&]() -> std::optional<std::uint64_t> {
    auto v = read_varint(p.subspan(pos));
    if (!v) return std::nullopt;
    pos += v->length;
    return v->value;
  };
  while (pos < p.size()) {
    std::uint8_t type = p[pos];
    if (type == kPadding) {
      ++pos;
    } else if (type == kPing) {
      ++pos;
      ++f.pings;
    } else if ((type == kAck || type == kAckEcn) && f.ack.empty()) {
      std::size_t start = pos++;
      auto largest = varint(), delay = varint(), ranges = varint(), first = varint();
      if (!largest || !delay || !ranges || !first || *ranges > 256) return std::nullopt;
      for (std::uint64_t i = 0; i < 2 * *ranges + (type == kAckEcn ? 3 : 0); ++i)
        if (!varint()) return std::nullopt;
      f.ack.assign(p.begin() + static_cast<std::ptrdiff_t>(start), p.begin() + static_cast<std::ptrdiff_t>(pos));
    } else if (type == kCrypto) {
      ++pos;
      auto offset = varint(), length = varint();
      if (!offset || !length || *length > p.size() - pos) return std::nullopt;
      f.crypto.push_back({*offset, Bytes(p.begin() + static_cast<std::ptrdiff_t>(pos),
                                         p.begin() + static_cast<std::ptrdiff_t>(pos + *length))});
      pos += *length;
    } else {
      return std::nullopt;  // CONNECTION_CLOSE and the like: left alone
    }
  }
  return f;
}

Bytes crypto_frame(std::uint64_t offset, ByteSpan data) {
  Bytes out{kCrypto};
  write_varint(out, offset);
  write_varint(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// The payload, `size` bytes: CRYPTO data cut into `cuts` more frames than it came in, `pings` PING
// frames and up to three PADDING runs, shuffled, the ACK (if any) first. Empty if it does not fit.
Bytes reframe(const Frames& f, std::size_t size, std::uint32_t cuts, std::size_t pings) {
  std::vector<Bytes> parts;
  for (const auto& chunk : f.crypto) {
    std::size_t pieces = std::min<std::size_t>(1 + cuts, chunk.data.size());
    std::size_t at = 0;
    for (std::size_t i = 0; i < pieces; ++i) {
      std::size_t left = chunk.data.size() - at;
      std::size_t take = i + 1 == pieces ? left : 1 + draw(static_cast<std::uint32_t>(left - (pieces - i - 1)));
      take = std::min(take, left - (pieces - i - 1));
      parts.push_back(crypto_frame(chunk.offset + at, ByteSpan(chunk.data).subspan(at, take)));
      at += take;
    }
  }
  for (std::size_t i = 0; i < pings; ++i) parts.push_back(Bytes{kPing});
  std::size_t used = f.ack.size();
  for (const auto& part : parts) used += part.size();
  if (used > size) return {};
  std::size_t padding = size - used;
  std::size_t runs = std::min<std::size_t>(padding, 1 + draw(3));
  for (std::size_t i = 0; i < runs; ++i) {
    std::size_t length = i + 1 == runs ? padding : 1 + draw(static_cast<std::uint32_t>(padding - (runs - i - 1)));
    length = std::min(length, padding - (runs - i - 1));
    parts.push_back(Bytes(length, kPadding));
    padding -= length;
  }
  for (std::size_t i = parts.size(); i > 1; --i) std::swap(parts[i - 1], parts[draw(static_cast<std::uint32_t>(i))]);
  Bytes payload = f.ack;
  for (const auto& part : parts) payload.insert(payload.end(), part.begin(), part.end());
  return payload;
}

}  // namespace

Result<InitialShaper> InitialShaper::create(ByteSpan client_destination_id, std::uint32_t version) {
  InitialShaper shaper;
  if (auto keyed = shaper.rekey(client_destination_id, version); !keyed) return fail(keyed.error());
  return shaper;
}

Result<void> InitialShaper::rekey(ByteSpan client_destination_id, std::uint32_t version) {
  auto secrets = initial_secrets(client_destination_id, version);
  if (!secrets) return fail(secrets.error());
  auto keys = packet_keys(initial_suite(), secrets->client, version);
  auto server_keys = packet_keys(initial_suite(), secrets->server, version);
  if (!keys) return fail(keys.error());
  if (!server_keys) return fail(server_keys.error());
  keys_ = std::move(*keys);
  server_keys_ = std::move(*server_keys);
  version_ = version;
  return {};
}

Bytes InitialShaper::shape(ByteSpan datagram) {
  Bytes unchanged(datagram.begin(), datagram.end());
  auto header = initial_header(datagram, version_);
  if (!header) return unchanged;
  const std::size_t end = header->pn_offset + header->length;
  auto opened = unprotect_packet(keys_, datagram.subspan(0, end), header->pn_offset, largest_);
  if (!opened) return unchanged;
  largest_ = std::max<std::int64_t>(largest_, static_cast<std::int64_t>(opened->packet_number));
  const std::size_t pn_length = opened->packet_number_length;
  const std::uint64_t number = opened->packet_number + kNumberShift;
  Bytes new_header = opened->header;
  Bytes payload = opened->payload;

  // A lone Initial with CRYPTO data is re-framed and grown, its header getting a two-byte Length.
  auto frames = read_frames(opened->payload);
  const std::size_t grown_header = header->length_offset + 2 + pn_length;
  // Only grown, never shrunk: a datagram already at Chromium's size or above keeps ngtcp2's framing.
  if (end == datagram.size() && datagram.size() < kShapedDatagramSize && frames && !frames->crypto.empty() &&
      grown_header + kTagSize < kShapedDatagramSize) {
    const std::size_t payload_size = kShapedDatagramSize - grown_header - kTagSize;
    // Chromium cuts its CRYPTO data into a handful of frames per packet with about as many PINGs;
    // with less room, fewer cuts, down to ngtcp2's own framing grown with PADDING.
    Bytes reframed;
    for (std::uint32_t cuts = 2 + draw(3);; --cuts) {
      reframed = reframe(*frames, payload_size, cuts, frames->pings + (cuts > 0 ? 2 + draw(4) : 0));
      if (!reframed.empty() || cuts == 0) break;
    }
    if (!reframed.empty()) {
      payload = std::move(reframed);
      new_header.resize(header->length_offset);
      std::size_t length = pn_length + payload.size() + kTagSize;
      new_header.push_back(static_cast<std::uint8_t>(0x40 | (length >> 8)));
      new_header.push_back(static_cast<std::uint8_t>(length));
      new_header.resize(new_header.size() + pn_length);
    }
  }
  // The packet number's bytes, renumbered, at the header's end.
  for (std::size_t i = 0; i < pn_length; ++i)
    new_header[new_header.size() - 1 - i] = static_cast<std::uint8_t>(number >> (8 * i));
  auto packet = protect_packet(keys_, new_header, number, payload);
  if (!packet) return unchanged;
  packet->insert(packet->end(), datagram.begin() + static_cast<std::ptrdiff_t>(end), datagram.end());
  return std::move(*packet);
}

void InitialShaper::restore(Bytes& datagram) {
  auto header = initial_header(datagram, version_);
  if (!header) return;
  const std::size_t end = header->pn_offset + header->length;
  auto opened = unprotect_packet(server_keys_, ByteSpan(datagram).subspan(0, end), header->pn_offset, largest_server_);
  if (!opened) return;
  largest_server_ = std::max<std::int64_t>(largest_server_, static_cast<std::int64_t>(opened->packet_number));
  // Every ACK frame's Largest Acknowledged goes back by one; ranges below it keep their gaps and
  // lengths, so they move with it. The frames a server Initial may carry are walked; anything
  // else leaves the packet as it came.
  Bytes& p = opened->payload;
  std::size_t pos = 0;
  bool changed = false;
  auto skip_varint = [&]() -> std::optional<Varint> {
    auto v = read_varint(ByteSpan(p).subspan(pos));
    if (v) pos += v->length;
    return v ? std::optional<Varint>(*v) : std::nullopt;
  };
  while (pos < p.size()) {
    std::uint8_t type = p[pos++];
    if (type == kPadding || type == kPing) continue;
    if (type == kAck || type == kAckEcn) {
      std::size_t at = pos;
      auto largest = skip_varint();
      auto delay = skip_varint(), ranges = skip_varint(), first = skip_varint();
      if (!largest || !delay || !ranges || !first || ranges->value > 256 || largest->value < kNumberShift) return;
      if (first->value > largest->value - kNumberShift) return;  // it acknowledges a packet we never sent
      for (std::uint64_t i = 0; i < 2 * ranges->value + (type == kAckEcn ? 3 : 0); ++i)
        if (!skip_varint()) return;
      put_varint(p.data() + at, largest->value - kNumberShift, largest->length);
      changed = true;
    } else if (type == kCrypto) {
      auto offset = skip_varint(), length = skip_varint();
      if (!offset || !length || length->value > p.size() - pos) return;
      pos += length->value;
    } else if (type == kConnectionClose) {
      auto code = skip_varint(), frame = skip_varint(), reason = skip_varint();
      if (!code || !frame || !reason || reason->value > p.size() - pos) return;
      pos += reason->value;
    } else {
      return;
    }
  }
  if (!changed) return;
  auto packet = protect_packet(server_keys_, opened->header, opened->packet_number, p);
  if (!packet || packet->size() != end) return;
  std::copy(packet->begin(), packet->end(), datagram.begin());
}

}  // namespace culvert::quic
