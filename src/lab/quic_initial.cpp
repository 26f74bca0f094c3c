#include "lab/quic_initial.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>

#include "tls13/key_schedule.h"

namespace culvert::lab {
namespace {

constexpr std::size_t kMaxCryptoBytes = 64 * 1024;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kSampleSize = 16;

// A QUIC variable-length integer (RFC 9000 §16).
std::optional<std::uint64_t> varint(Reader& r) {
  auto first = r.u8();
  if (!first) return std::nullopt;
  std::size_t length = std::size_t{1} << (*first >> 6);
  std::uint64_t value = *first & 0x3f;
  for (std::size_t i = 1; i < length; ++i) {
    auto b = r.u8();
    if (!b) return std::nullopt;
    value = (value << 8) | *b;
  }
  return value;
}

struct InitialKeys {
  Bytes key, iv, hp;
};

// The client's Initial keys for `version` (RFC 9001 §5.2, RFC 9369 §3.3.1).
std::optional<InitialKeys> client_initial_keys(std::uint32_t version, ByteSpan destination_id) {
  static const std::uint8_t kSaltV1[] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                         0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
  static const std::uint8_t kSaltV2[] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                         0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
  const auto* suite = tls13::find_cipher_suite(0x1301);  // Initials: AES-128-GCM with SHA-256
  if (!suite) return std::nullopt;
  bool v2 = version == kQuicV2;
  ByteSpan salt = v2 ? ByteSpan(kSaltV2) : ByteSpan(kSaltV1);
  Bytes initial = tls13::hkdf_extract(*suite, salt, destination_id);
  Bytes client = tls13::hkdf_expand_label(*suite, initial, "client in", {}, 32);
  InitialKeys keys;
  keys.key = tls13::hkdf_expand_label(*suite, client, v2 ? "quicv2 key" : "quic key", {}, 16);
  keys.iv = tls13::hkdf_expand_label(*suite, client, v2 ? "quicv2 iv" : "quic iv", {}, 12);
  keys.hp = tls13::hkdf_expand_label(*suite, client, v2 ? "quicv2 hp" : "quic hp", {}, 16);
  return keys;
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// AES-128-ECB of the 16-byte sample: the header protection mask (RFC 9001 §5.4.3).
std::optional<std::array<std::uint8_t, 16>> protection_mask(ByteSpan hp, ByteSpan sample) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::array<std::uint8_t, 32> out{};
  int n = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, hp.data(), nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &n, sample.data(), static_cast<int>(sample.size())) != 1 || n != 16)
    return std::nullopt;
  std::array<std::uint8_t, 16> mask;
  std::copy_n(out.begin(), 16, mask.begin());
  return mask;
}

std::optional<Bytes> open_payload(const InitialKeys& keys, std::uint64_t packet_number, ByteSpan header,
                                  ByteSpan sealed) {
  if (sealed.size() < kTagSize) return std::nullopt;
  Bytes nonce = keys.iv;
  for (int i = 0; i < 8; ++i) nonce[nonce.size() - 1 - i] ^= static_cast<std::uint8_t>(packet_number >> (8 * i));
  ByteSpan ciphertext = sealed.first(sealed.size() - kTagSize);
  ByteSpan tag = sealed.last(kTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  Bytes plain(ciphertext.size() + 16);
  int n = 0, tail = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, keys.key.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, header.data(), static_cast<int>(header.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain.data(), &n, ciphertext.data(), static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                          const_cast<std::uint8_t*>(tag.data())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plain.data() + n, &tail) != 1)
    return std::nullopt;
  plain.resize(static_cast<std::size_t>(n + tail));
  return plain;
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
  if (*length > r.remaining() || *length < 4 + kSampleSize) return fail(Errc::malformed);
  packet.destination_id.assign(dcid->begin(), dcid->end());
  packet.source_id.assign(scid->begin(), scid->end());
  packet.token.assign(token->begin(), token->end());
  packet.packet_size = pn_offset + *length;

  auto keys = client_initial_keys(*version, *dcid);
  if (!keys) return fail(Errc::malformed);
  auto mask = protection_mask(keys->hp, datagram.subspan(pn_offset + 4, kSampleSize));
  if (!mask) return fail(Errc::malformed);
  Bytes header(datagram.begin(), datagram.begin() + static_cast<std::ptrdiff_t>(pn_offset));
  header[0] = static_cast<std::uint8_t>(*first ^ ((*mask)[0] & 0x0f));
  std::size_t pn_length = (header[0] & 0x03) + 1;
  std::uint64_t pn = 0;
  for (std::size_t i = 0; i < pn_length; ++i) {
    auto b = static_cast<std::uint8_t>(datagram[pn_offset + i] ^ (*mask)[1 + i]);
    header.push_back(b);
    pn = (pn << 8) | b;
  }
  // A client's first packets carry small numbers (Chromium starts at 1), so the truncated number is
  // the whole number.
  packet.packet_number = pn;
  packet.packet_number_length = pn_length;
  auto payload = open_payload(*keys, pn, header, datagram.subspan(pn_offset + pn_length, *length - pn_length));
  if (!payload) return fail(Errc::malformed);
  if (auto frames = parse_initial_frames(*payload, packet); !frames) return fail(frames.error());
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
