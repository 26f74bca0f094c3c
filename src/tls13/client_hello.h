// The ClientHello of Debian's Chromium (the reference bytes are in lab/data/clienthello/), built
// field for field: cipher suites with GREASE, 17 extensions in a fresh random order per connection
// between a leading and a trailing GREASE extension, GREASE in versions, groups, key shares and
// signature algorithms, the X25519MLKEM768 + X25519 key shares, and a GREASE ECH extension whose
// payload length is drawn as Chromium draws it. Everything random comes from HelloRandomness, so
// tests can fix it. Pure code: no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"

namespace culvert::tls13 {

namespace group {
inline constexpr std::uint16_t kSecp256r1 = 0x0017;
inline constexpr std::uint16_t kSecp384r1 = 0x0018;
inline constexpr std::uint16_t kX25519 = 0x001d;
inline constexpr std::uint16_t kX25519MlKem768 = 0x11ec;
}  // namespace group

namespace ext {
inline constexpr std::uint16_t kServerName = 0x0000;
inline constexpr std::uint16_t kStatusRequest = 0x0005;
inline constexpr std::uint16_t kSupportedGroups = 0x000a;
inline constexpr std::uint16_t kEcPointFormats = 0x000b;
inline constexpr std::uint16_t kSignatureAlgorithms = 0x000d;
inline constexpr std::uint16_t kAlpn = 0x0010;
inline constexpr std::uint16_t kSignedCertificateTimestamp = 0x0012;
inline constexpr std::uint16_t kPadding = 0x0015;
inline constexpr std::uint16_t kExtendedMasterSecret = 0x0017;
inline constexpr std::uint16_t kCompressCertificate = 0x001b;
inline constexpr std::uint16_t kSessionTicket = 0x0023;
inline constexpr std::uint16_t kPreSharedKey = 0x0029;
inline constexpr std::uint16_t kSupportedVersions = 0x002b;
inline constexpr std::uint16_t kCookie = 0x002c;
inline constexpr std::uint16_t kPskKeyExchangeModes = 0x002d;
inline constexpr std::uint16_t kKeyShare = 0x0033;
inline constexpr std::uint16_t kQuicTransportParameters = 0x0039;
inline constexpr std::uint16_t kApplicationSettings = 0x44cd;
inline constexpr std::uint16_t kTrustAnchors = 0xca34;
inline constexpr std::uint16_t kEncryptedClientHello = 0xfe0d;
inline constexpr std::uint16_t kRenegotiationInfo = 0xff01;
}  // namespace ext

// Chromium's TLS 1.3 signature algorithms after its GREASE value (ML-DSA first, then classical).
inline constexpr std::array<std::uint16_t, 11> kSignatureAlgorithms = {0x0904, 0x0905, 0x0906, 0x0403, 0x0804, 0x0401,
                                                                       0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
// The groups offered after GREASE, in order.
inline constexpr std::array<std::uint16_t, 4> kGroups = {group::kX25519MlKem768, group::kX25519, group::kSecp256r1,
                                                         group::kSecp384r1};

// Where each GREASE value comes from (one random byte each, as in BoringSSL's grease_seed).
enum GreaseIndex : std::size_t {
  kGreaseCipher,
  kGreaseGroup,
  kGreaseExtension1,
  kGreaseExtension2,
  kGreaseVersion,
  kGreaseSignatureAlgorithm,
  kGreaseEchConfigId,
  kGreaseCount
};

inline constexpr std::size_t kPermutedExtensions = 17;

struct HelloRandomness {
  std::array<std::uint8_t, 32> random{};
  std::array<std::uint8_t, 32> session_id{};
  std::array<std::uint8_t, kGreaseCount> grease_seed{};
  // A permutation of 0..16: the order of Chromium's non-GREASE extensions on this connection.
  std::array<std::uint8_t, kPermutedExtensions> extension_order{};
  std::array<std::uint8_t, 32> ech_enc{};  // an X25519 public key, as Chromium generates one
  Bytes ech_payload;                       // 32·{4..7} + 16 random bytes

  static HelloRandomness draw();
};

// The GREASE value (RFC 8701) for one index of the seed.
std::uint16_t grease_value(const HelloRandomness& r, GreaseIndex index);

struct KeyShareEntry {
  std::uint16_t group;
  Bytes key_exchange;
};

struct ClientHelloSpec {
  std::string server_name;  // empty: no server_name (Chromium sends none for IP addresses)
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  std::vector<KeyShareEntry> key_shares;
  Bytes cookie;              // from a HelloRetryRequest
  bool after_retry = false;  // the second ClientHello: no GREASE key share
  // Set for a QUIC connection (RFC 9001 §8.2): the quic_transport_parameters extension's body.
  // Chromium's QUIC ClientHello is then what it sends to an HTTP/3 site: TLS 1.3 suites only, no
  // GREASE anywhere, no legacy session id, 12 extensions in a fresh random order (no TLS 1.2-only
  // ones, no padding), its QUIC signature algorithms, and ALPS for the first ALPN protocol.
  std::optional<Bytes> quic_transport_parameters;
};

// The ClientHello handshake message (type, length, body), without the record header.
Bytes build_client_hello(const ClientHelloSpec& spec, const HelloRandomness& randomness);
// The record that carries it, as Chromium frames the first flight (record version 0x0301).
Bytes client_hello_record(ByteSpan message);

}  // namespace culvert::tls13
