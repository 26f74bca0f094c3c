#include "tls13/client_hello.h"

#include "crypto/crypto.h"

namespace culvert::tls13 {
namespace {

// Chromium's cipher suites after the GREASE value: TLS 1.3 first, then its TLS 1.2 list.
constexpr std::array<std::uint16_t, 15> kCipherSuites = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
                                                         0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};

// Chromium's QUIC signature algorithms (captured against an HTTP/3 server, lab/data/quic/): no
// ML-DSA, and rsa_pkcs1_sha1 last.
constexpr std::array<std::uint16_t, 9> kQuicSignatureAlgorithms = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805,
                                                                   0x0501, 0x0806, 0x0601, 0x0201};

// The trust_anchors extension body Chromium 156 sends: the IDs of the Chrome Root Store's anchors
// (draft-ietf-tls-trust-anchor-ids). Constant across connections; taken from the captured hellos.
constexpr std::uint8_t kTrustAnchorIds[] = {
    0x00, 0xb8, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x01, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x06, 0x05, 0x82, 0xdf, 0x13, 0x02,
    0x0d, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x0e, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x0f, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x12,
    0x05, 0x82, 0xdf, 0x13, 0x02, 0x13, 0x05, 0x82, 0xdf, 0x13, 0x02, 0x14, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d,
    0x01, 0x07, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x08, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01,
    0x09, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x0a, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x0b,
    0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x0c, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x0d, 0x08,
    0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x12, 0x08, 0x83, 0x9a, 0x64, 0x8c, 0x9b, 0x2d, 0x01, 0x13, 0x04, 0xd6,
    0x79, 0x09, 0x01, 0x04, 0xd6, 0x79, 0x09, 0x04, 0x04, 0xd6, 0x79, 0x09, 0x05, 0x04, 0xd6, 0x79, 0x09, 0x06, 0x04,
    0xd6, 0x79, 0x09, 0x07, 0x04, 0xd6, 0x79, 0x09, 0x08, 0x04, 0xd6, 0x79, 0x09, 0x0a, 0x04, 0xd6, 0x79, 0x09, 0x0b,
    0x04, 0xd6, 0x79, 0x09, 0x0c, 0x04, 0xd6, 0x79, 0x09, 0x0d, 0x04, 0xd6, 0x79, 0x09, 0x0f};
static_assert(sizeof kTrustAnchorIds == 186);

// The 17 extensions that Chromium shuffles, in a fixed reference order; HelloRandomness picks the
// order on the wire.
constexpr std::array<std::uint16_t, kPermutedExtensions> kPermuted = {ext::kServerName,
                                                                      ext::kExtendedMasterSecret,
                                                                      ext::kRenegotiationInfo,
                                                                      ext::kSupportedGroups,
                                                                      ext::kEcPointFormats,
                                                                      ext::kSessionTicket,
                                                                      ext::kAlpn,
                                                                      ext::kStatusRequest,
                                                                      ext::kSignatureAlgorithms,
                                                                      ext::kSignedCertificateTimestamp,
                                                                      ext::kKeyShare,
                                                                      ext::kPskKeyExchangeModes,
                                                                      ext::kSupportedVersions,
                                                                      ext::kCompressCertificate,
                                                                      ext::kApplicationSettings,
                                                                      ext::kEncryptedClientHello,
                                                                      ext::kTrustAnchors};

// Chromium's QUIC ClientHello drops these five of the 17; the transport parameters take the
// session ticket's place in the shuffled order, so all 12 are in a uniformly random order.
bool left_out_over_quic(std::uint16_t type) {
  return type == ext::kExtendedMasterSecret || type == ext::kRenegotiationInfo || type == ext::kEcPointFormats ||
         type == ext::kStatusRequest || type == ext::kSignedCertificateTimestamp;
}

// A u16-length list of u16 values, after a GREASE value when there is one (Chromium over TCP).
template <std::size_t N>
void write_list(Writer& w, std::optional<std::uint16_t> grease, const std::array<std::uint16_t, N>& values) {
  std::size_t list = w.open_prefix(2);
  if (grease) w.u16(*grease);
  for (auto v : values) w.u16(v);
  w.close_prefix(list, 2);
}

void write_extension_body(Writer& w, std::uint16_t type, const ClientHelloSpec& spec, const HelloRandomness& r) {
  const bool quic = spec.quic_transport_parameters.has_value();
  switch (type) {
    case ext::kServerName: {
      std::size_t list = w.open_prefix(2);
      w.u8(0);  // host_name
      std::size_t name = w.open_prefix(2);
      w.text(spec.server_name);
      w.close_prefix(name, 2);
      w.close_prefix(list, 2);
      break;
    }
    case ext::kExtendedMasterSecret:
    case ext::kSessionTicket:
    case ext::kSignedCertificateTimestamp:
      break;
    case ext::kRenegotiationInfo:
      w.u8(0);
      break;
    case ext::kSupportedGroups:
      write_list(w, quic ? std::nullopt : std::optional(grease_value(r, kGreaseGroup)), kGroups);
      break;
    case ext::kEcPointFormats:
      w.u8(1);
      w.u8(0);  // uncompressed
      break;
    case ext::kAlpn: {
      std::size_t list = w.open_prefix(2);
      for (const auto& p : spec.alpn) {
        w.u8(static_cast<std::uint8_t>(p.size()));
        w.text(p);
      }
      w.close_prefix(list, 2);
      break;
    }
    case ext::kStatusRequest:
      w.u8(1);  // ocsp
      w.u16(0);
      w.u16(0);
      break;
    case ext::kSignatureAlgorithms:
      if (quic)
        write_list(w, std::nullopt, kQuicSignatureAlgorithms);
      else
        write_list(w, grease_value(r, kGreaseSignatureAlgorithm), kSignatureAlgorithms);
      break;
    case ext::kKeyShare: {
      std::size_t list = w.open_prefix(2);
      if (!spec.after_retry && !quic) {
        w.u16(grease_value(r, kGreaseGroup));
        w.u16(1);
        w.u8(0);
      }
      for (const auto& share : spec.key_shares) {
        w.u16(share.group);
        w.u16(static_cast<std::uint16_t>(share.key_exchange.size()));
        w.bytes(share.key_exchange);
      }
      w.close_prefix(list, 2);
      break;
    }
    case ext::kPskKeyExchangeModes:
      w.u8(1);
      w.u8(1);  // psk_dhe_ke
      break;
    case ext::kSupportedVersions:
      if (quic) {
        w.u8(2);
        w.u16(0x0304);
        break;
      }
      w.u8(6);
      w.u16(grease_value(r, kGreaseVersion));
      w.u16(0x0304);
      w.u16(0x0303);
      break;
    case ext::kCompressCertificate:
      w.u8(2);
      w.u16(2);  // brotli
      break;
    case ext::kApplicationSettings: {
      // The protocol ALPS is offered for: h2 over TCP, h3 over QUIC.
      std::string_view protocol = quic ? "h3" : "h2";
      std::size_t list = w.open_prefix(2);
      w.u8(static_cast<std::uint8_t>(protocol.size()));
      w.text(protocol);
      w.close_prefix(list, 2);
      break;
    }
    case ext::kEncryptedClientHello:
      w.u8(0);        // outer
      w.u16(0x0001);  // HKDF-SHA256
      w.u16(0x0001);  // AES-128-GCM
      w.u8(r.grease_seed[kGreaseEchConfigId]);
      w.u16(static_cast<std::uint16_t>(r.ech_enc.size()));
      w.bytes(r.ech_enc);
      w.u16(static_cast<std::uint16_t>(r.ech_payload.size()));
      w.bytes(r.ech_payload);
      break;
    case ext::kTrustAnchors:
      w.bytes(kTrustAnchorIds);
      break;
    default:
      break;
  }
}

}  // namespace

HelloRandomness HelloRandomness::draw() {
  HelloRandomness r;
  crypto::random_bytes(r.random);
  crypto::random_bytes(r.session_id);
  crypto::random_bytes(r.grease_seed);
  // Fisher–Yates with unbiased draws.
  for (std::size_t i = 0; i < kPermutedExtensions; ++i) r.extension_order[i] = static_cast<std::uint8_t>(i);
  for (std::size_t i = kPermutedExtensions - 1; i > 0; --i) {
    std::size_t j = crypto::random_below(static_cast<std::uint32_t>(i + 1));
    std::swap(r.extension_order[i], r.extension_order[j]);
  }
  r.ech_enc = crypto::x25519_generate().public_key;
  std::size_t payload = 32 * (4 + crypto::random_below(4)) + 16;
  r.ech_payload = crypto::random_bytes(payload);
  return r;
}

std::uint16_t grease_value(const HelloRandomness& r, GreaseIndex index) {
  std::uint16_t v = static_cast<std::uint16_t>((r.grease_seed[index] & 0xf0) | 0x0a);
  v = static_cast<std::uint16_t>(v | (v << 8));
  // The two GREASE extensions must differ (RFC 8701 §3.1 forbids duplicate extensions).
  if (index == kGreaseExtension2 && v == grease_value(r, kGreaseExtension1)) v ^= 0x1010;
  return v;
}

Bytes build_client_hello(const ClientHelloSpec& spec, const HelloRandomness& r) {
  const bool quic = spec.quic_transport_parameters.has_value();
  Bytes out;
  Writer w(out);
  w.u8(1);  // client_hello
  std::size_t body = w.open_prefix(3);
  w.u16(0x0303);
  w.bytes(r.random);
  if (quic) {
    w.u8(0);  // QUIC has no middlebox compatibility mode (RFC 9001 §8.4)
  } else {
    w.u8(static_cast<std::uint8_t>(r.session_id.size()));
    w.bytes(r.session_id);
  }
  std::size_t suites = w.open_prefix(2);
  if (!quic) w.u16(grease_value(r, kGreaseCipher));
  for (auto s : kCipherSuites) {
    if (quic && (s >> 8) != 0x13) break;  // the TLS 1.3 suites come first
    w.u16(s);
  }
  w.close_prefix(suites, 2);
  w.u8(1);
  w.u8(0);  // null compression
  std::size_t extensions = w.open_prefix(2);
  if (!quic) {
    w.u16(grease_value(r, kGreaseExtension1));
    w.u16(0);
  }
  for (std::uint8_t index : r.extension_order) {
    std::uint16_t type = kPermuted[index];
    if (type == ext::kServerName && spec.server_name.empty()) continue;
    if (quic && left_out_over_quic(type)) continue;
    if (quic && type == ext::kSessionTicket) {
      w.u16(ext::kQuicTransportParameters);
      std::size_t ext_body = w.open_prefix(2);
      w.bytes(*spec.quic_transport_parameters);
      w.close_prefix(ext_body, 2);
      continue;
    }
    w.u16(type);
    std::size_t ext_body = w.open_prefix(2);
    write_extension_body(w, type, spec, r);
    w.close_prefix(ext_body, 2);
  }
  if (!spec.cookie.empty()) {
    w.u16(ext::kCookie);
    std::size_t ext_body = w.open_prefix(2);
    std::size_t cookie = w.open_prefix(2);
    w.bytes(spec.cookie);
    w.close_prefix(cookie, 2);
    w.close_prefix(ext_body, 2);
  }
  if (!quic) {
    w.u16(grease_value(r, kGreaseExtension2));
    w.u16(1);
    w.u8(0);
  }
  // BoringSSL's padding rule (RFC 7685): a ClientHello of 256..511 bytes is padded to 512, to avoid
  // a middlebox bug. Chromium's hellos with a post-quantum share are never in that range, and QUIC
  // pads its packets instead.
  std::size_t length = w.size() - body;
  if (!quic && length > 0xff && length < 0x200) {
    std::size_t pad = 0x200 - length;
    pad = pad >= 5 ? pad - 4 : 1;
    w.u16(ext::kPadding);
    w.u16(static_cast<std::uint16_t>(pad));
    for (std::size_t i = 0; i < pad; ++i) w.u8(0);
  }
  w.close_prefix(extensions, 2);
  w.close_prefix(body, 3);
  return out;
}

Bytes client_hello_record(ByteSpan message) {
  Bytes out;
  Writer w(out);
  w.u8(22);
  w.u16(0x0301);
  w.u16(static_cast<std::uint16_t>(message.size()));
  w.bytes(message);
  return out;
}

}  // namespace culvert::tls13
