#include "quic/packet_protection.h"

#include <algorithm>

namespace culvert::quic {
namespace {

constexpr std::uint8_t kSaltV1[] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
constexpr std::uint8_t kSaltV2[] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                    0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
// The fixed AES-128-GCM key and nonce of the Retry integrity tag, per version.
constexpr std::uint8_t kRetryKeyV1[] = {0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a,
                                        0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e};
constexpr std::uint8_t kRetryNonceV1[] = {0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb};
constexpr std::uint8_t kRetryKeyV2[] = {0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2,
                                        0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c, 0xcc, 0x92};
constexpr std::uint8_t kRetryNonceV2[] = {0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a};

constexpr std::uint16_t kChaCha20Poly1305 = 0x1303;
constexpr std::uint16_t kAes256Gcm = 0x1302;

const char* label(std::uint32_t version, const char* v1, const char* v2) { return version == kVersion2 ? v2 : v1; }

bool long_header(std::uint8_t first) { return (first & 0x80) != 0; }

}  // namespace

bool is_supported_version(std::uint32_t version) { return version == kVersion1 || version == kVersion2; }

const tls13::CipherSuite& initial_suite() {
  static const tls13::CipherSuite* suite = tls13::find_cipher_suite(0x1301);
  return *suite;
}

Result<PacketKeys> packet_keys(const tls13::CipherSuite& suite, ByteSpan secret, std::uint32_t version) {
  if (!is_supported_version(version)) return fail(Errc::unsupported);
  if (secret.size() != suite.hash_length) return fail(Errc::malformed);
  PacketKeys keys;
  keys.suite = &suite;
  keys.key = tls13::hkdf_expand_label(suite, secret, label(version, "quic key", "quicv2 key"), {}, suite.key_length);
  keys.iv = tls13::hkdf_expand_label(suite, secret, label(version, "quic iv", "quicv2 iv"), {}, 12);
  keys.hp = tls13::hkdf_expand_label(suite, secret, label(version, "quic hp", "quicv2 hp"), {}, suite.key_length);
  return keys;
}

Result<InitialSecrets> initial_secrets(ByteSpan destination_id, std::uint32_t version) {
  if (!is_supported_version(version)) return fail(Errc::unsupported);
  if (destination_id.size() > 20) return fail(Errc::malformed);
  const auto& suite = initial_suite();
  ByteSpan salt = version == kVersion2 ? ByteSpan(kSaltV2) : ByteSpan(kSaltV1);
  Bytes initial = tls13::hkdf_extract(suite, salt, destination_id);
  return InitialSecrets{tls13::hkdf_expand_label(suite, initial, "client in", {}, suite.hash_length),
                        tls13::hkdf_expand_label(suite, initial, "server in", {}, suite.hash_length)};
}

Bytes next_secret(const tls13::CipherSuite& suite, ByteSpan secret, std::uint32_t version) {
  return tls13::hkdf_expand_label(suite, secret, label(version, "quic ku", "quicv2 ku"), {}, suite.hash_length);
}

Bytes packet_nonce(ByteSpan iv, std::uint64_t packet_number) {
  Bytes nonce(iv.begin(), iv.end());
  for (std::size_t i = 0; i < 8 && i < nonce.size(); ++i)
    nonce[nonce.size() - 1 - i] ^= static_cast<std::uint8_t>(packet_number >> (8 * i));
  return nonce;
}

Result<Aead> Aead::create(const tls13::CipherSuite& suite, ByteSpan key, bool encrypting) {
  if (key.size() != suite.key_length) return fail(Errc::malformed);
  Aead aead;
  aead.encrypting_ = encrypting;
  aead.ctx_.reset(EVP_CIPHER_CTX_new());
  if (!aead.ctx_ || EVP_CipherInit_ex(aead.ctx_.get(), suite.aead(), nullptr, nullptr, nullptr, encrypting) != 1 ||
      EVP_CIPHER_CTX_ctrl(aead.ctx_.get(), EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_CipherInit_ex(aead.ctx_.get(), nullptr, nullptr, key.data(), nullptr, encrypting) != 1)
    return fail(Errc::tls_failed);
  return aead;
}

Result<void> Aead::seal(ByteSpan nonce, ByteSpan associated, ByteSpan plaintext, std::uint8_t* out) const {
  if (!encrypting_ || nonce.size() != 12) return fail(Errc::malformed);
  EVP_CIPHER_CTX* ctx = ctx_.get();
  int n = 0, tail = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &n, associated.data(), static_cast<int>(associated.size())) != 1 ||
      EVP_EncryptUpdate(ctx, out, &n, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, out + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), out + plaintext.size()) != 1)
    return fail(Errc::tls_failed);
  return {};
}

Result<void> Aead::open(ByteSpan nonce, ByteSpan associated, ByteSpan sealed, std::uint8_t* out) const {
  if (encrypting_ || nonce.size() != 12 || sealed.size() < kTagSize) return fail(Errc::malformed);
  EVP_CIPHER_CTX* ctx = ctx_.get();
  ByteSpan ciphertext = sealed.first(sealed.size() - kTagSize);
  std::array<std::uint8_t, kTagSize> tag;
  std::copy_n(sealed.end() - kTagSize, kTagSize, tag.begin());  // before `out` may overwrite it
  int n = 0, tail = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &n, associated.data(), static_cast<int>(associated.size())) != 1 ||
      EVP_DecryptUpdate(ctx, out, &n, ciphertext.data(), static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx, out + n, &tail) != 1)
    return fail(Errc::tls_failed);
  return {};
}

Result<HeaderProtection> HeaderProtection::create(const tls13::CipherSuite& suite, ByteSpan hp_key) {
  if (hp_key.size() != suite.key_length) return fail(Errc::malformed);
  HeaderProtection hp;
  hp.chacha_ = suite.id == kChaCha20Poly1305;
  const EVP_CIPHER* cipher = hp.chacha_               ? EVP_chacha20()
                             : suite.id == kAes256Gcm ? EVP_aes_256_ecb()
                                                      : EVP_aes_128_ecb();
  hp.ctx_.reset(EVP_CIPHER_CTX_new());
  if (!hp.ctx_ || EVP_EncryptInit_ex(hp.ctx_.get(), cipher, nullptr, hp_key.data(), nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(hp.ctx_.get(), 0) != 1)
    return fail(Errc::tls_failed);
  return hp;
}

Result<std::array<std::uint8_t, 5>> HeaderProtection::mask(ByteSpan sample) const {
  if (sample.size() < kSampleSize) return fail(Errc::malformed);
  EVP_CIPHER_CTX* ctx = ctx_.get();
  std::array<std::uint8_t, 32> out{};
  int n = 0;
  if (chacha_) {
    // The sample's first 4 bytes are the block counter (little-endian) and the other 12 the nonce,
    // which is OpenSSL's 16-byte ChaCha20 IV as it stands.
    static constexpr std::uint8_t kZeros[5] = {};
    if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, sample.data()) != 1 ||
        EVP_EncryptUpdate(ctx, out.data(), &n, kZeros, 5) != 1 || n != 5)
      return fail(Errc::tls_failed);
  } else if (EVP_EncryptUpdate(ctx, out.data(), &n, sample.data(), static_cast<int>(kSampleSize)) != 1 || n != 16) {
    return fail(Errc::tls_failed);
  }
  std::array<std::uint8_t, 5> mask;
  std::copy_n(out.begin(), 5, mask.begin());
  return mask;
}

Result<Bytes> protect_packet(const PacketKeys& keys, ByteSpan header, std::uint64_t packet_number, ByteSpan payload) {
  if (!keys.suite || header.empty()) return fail(Errc::malformed);
  std::size_t pn_length = (header[0] & 0x03) + 1;
  if (header.size() < 1 + pn_length) return fail(Errc::malformed);
  std::size_t pn_offset = header.size() - pn_length;
  auto aead = Aead::create(*keys.suite, keys.key, true);
  auto hp = HeaderProtection::create(*keys.suite, keys.hp);
  if (!aead) return fail(aead.error());
  if (!hp) return fail(hp.error());
  Bytes out(header.size() + payload.size() + kTagSize);
  std::copy(header.begin(), header.end(), out.begin());
  Bytes nonce = packet_nonce(keys.iv, packet_number);
  if (auto sealed = aead->seal(nonce, header, payload, out.data() + header.size()); !sealed)
    return fail(sealed.error());
  // The sample starts 4 bytes after the packet number does, as if it were 4 bytes long: a sender
  // pads payloads too short to give one.
  if (out.size() < pn_offset + 4 + kSampleSize) return fail(Errc::truncated);
  auto mask = hp->mask(ByteSpan(out).subspan(pn_offset + 4, kSampleSize));
  if (!mask) return fail(mask.error());
  out[0] ^= (*mask)[0] & (long_header(out[0]) ? 0x0f : 0x1f);
  for (std::size_t i = 0; i < pn_length; ++i) out[pn_offset + i] ^= (*mask)[1 + i];
  return out;
}

Result<OpenedPacket> unprotect_packet(const PacketKeys& keys, ByteSpan packet, std::size_t pn_offset,
                                      std::int64_t largest_received) {
  if (!keys.suite || pn_offset == 0) return fail(Errc::malformed);
  if (packet.size() < pn_offset + 4 + kSampleSize) return fail(Errc::truncated);
  auto hp = HeaderProtection::create(*keys.suite, keys.hp);
  if (!hp) return fail(hp.error());
  auto mask = hp->mask(packet.subspan(pn_offset + 4, kSampleSize));
  if (!mask) return fail(mask.error());
  OpenedPacket opened;
  std::uint8_t first = packet[0] ^ ((*mask)[0] & (long_header(packet[0]) ? 0x0f : 0x1f));
  opened.packet_number_length = (first & 0x03) + 1;
  opened.header.assign(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(pn_offset));
  opened.header[0] = first;
  std::uint64_t truncated = 0;
  for (std::size_t i = 0; i < opened.packet_number_length; ++i) {
    auto b = static_cast<std::uint8_t>(packet[pn_offset + i] ^ (*mask)[1 + i]);
    opened.header.push_back(b);
    truncated = (truncated << 8) | b;
  }
  opened.packet_number = decode_packet_number(largest_received, truncated, opened.packet_number_length);
  ByteSpan sealed = packet.subspan(pn_offset + opened.packet_number_length);
  if (sealed.size() < kTagSize) return fail(Errc::malformed);
  auto aead = Aead::create(*keys.suite, keys.key, false);
  if (!aead) return fail(aead.error());
  opened.payload.resize(sealed.size() - kTagSize);
  Bytes nonce = packet_nonce(keys.iv, opened.packet_number);
  if (auto ok = aead->open(nonce, opened.header, sealed, opened.payload.data()); !ok) return fail(ok.error());
  return opened;
}

std::uint64_t decode_packet_number(std::int64_t largest_received, std::uint64_t truncated, std::size_t length) {
  const std::int64_t expected = largest_received + 1;
  const std::int64_t window = std::int64_t{1} << (8 * length);
  const std::int64_t half = window / 2;
  const std::int64_t candidate = (expected & ~(window - 1)) | static_cast<std::int64_t>(truncated);
  constexpr std::int64_t kLimit = std::int64_t{1} << 62;
  if (candidate <= expected - half && candidate < kLimit - window)
    return static_cast<std::uint64_t>(candidate + window);
  if (candidate > expected + half && candidate >= window) return static_cast<std::uint64_t>(candidate - window);
  return static_cast<std::uint64_t>(candidate);
}

Result<std::array<std::uint8_t, kTagSize>> retry_integrity_tag(std::uint32_t version, ByteSpan original_destination_id,
                                                               ByteSpan retry_without_tag) {
  if (!is_supported_version(version)) return fail(Errc::unsupported);
  if (original_destination_id.size() > 20) return fail(Errc::malformed);
  bool v2 = version == kVersion2;
  auto aead = Aead::create(initial_suite(), v2 ? ByteSpan(kRetryKeyV2) : ByteSpan(kRetryKeyV1), true);
  if (!aead) return fail(aead.error());
  Bytes pseudo;
  pseudo.reserve(1 + original_destination_id.size() + retry_without_tag.size());
  pseudo.push_back(static_cast<std::uint8_t>(original_destination_id.size()));
  pseudo.insert(pseudo.end(), original_destination_id.begin(), original_destination_id.end());
  pseudo.insert(pseudo.end(), retry_without_tag.begin(), retry_without_tag.end());
  std::array<std::uint8_t, kTagSize> tag{};
  if (auto ok = aead->seal(v2 ? ByteSpan(kRetryNonceV2) : ByteSpan(kRetryNonceV1), pseudo, {}, tag.data()); !ok)
    return fail(ok.error());
  return tag;
}

}  // namespace culvert::quic
