#include "tls13/messages.h"

#include <brotli/decode.h>
#include <brotli/encode.h>

#include <algorithm>

#include "tls13/client_hello.h"

namespace culvert::tls13 {

const std::array<std::uint8_t, 32> kHelloRetryRequestRandom = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

namespace {

bool seen_before(std::vector<std::uint16_t>& seen, std::uint16_t type) {
  if (std::find(seen.begin(), seen.end(), type) != seen.end()) return true;
  seen.push_back(type);
  return false;
}

}  // namespace

Result<std::optional<HandshakeMessage>> HandshakeFramer::next() {
  if (buffer_.size() < 4) return std::optional<HandshakeMessage>{};
  std::size_t length = (buffer_[1] << 16) | (buffer_[2] << 8) | buffer_[3];
  if (length > kMaxHandshakeMessage) return fail(Errc::too_large);
  if (buffer_.size() < 4 + length) return std::optional<HandshakeMessage>{};
  HandshakeMessage m{buffer_[0], Bytes(buffer_.begin(), buffer_.begin() + 4 + static_cast<std::ptrdiff_t>(length))};
  buffer_.erase(buffer_.begin(), buffer_.begin() + 4 + static_cast<std::ptrdiff_t>(length));
  return std::optional<HandshakeMessage>{std::move(m)};
}

Result<ClientHelloInfo> parse_client_hello(ByteSpan body) {
  Reader r(body);
  ClientHelloInfo ch;
  auto version = r.u16();
  auto random = r.take(32);
  auto session_id = r.prefixed(1);
  auto suites = r.prefixed(2);
  auto compression = r.prefixed(1);
  if (!version || !random || !session_id || !suites || !compression || session_id->size() > 32 ||
      suites->size() % 2 != 0 || suites->empty())
    return fail(Errc::malformed);
  std::copy(random->begin(), random->end(), ch.random.begin());
  ch.session_id.assign(session_id->begin(), session_id->end());
  Reader s(*suites);
  while (s.remaining() > 0) ch.cipher_suites.push_back(*s.u16());
  if (r.remaining() == 0) return ch;  // no extensions: an old client
  auto extensions = r.prefixed(2);
  if (!extensions || r.remaining() != 0) return fail(Errc::malformed);
  Reader e(*extensions);
  while (e.remaining() > 0) {
    auto type = e.u16();
    auto data = e.prefixed(2);
    if (!type || !data) return fail(Errc::malformed);
    if (seen_before(ch.extensions, *type)) return fail(Errc::malformed);
    Reader d(*data);
    switch (*type) {
      case ext::kSupportedVersions: {
        auto list = d.prefixed(1);
        if (!list || list->size() % 2 != 0) return fail(Errc::malformed);
        Reader l(*list);
        while (l.remaining() > 0) ch.offers_tls13 |= *l.u16() == 0x0304;
        break;
      }
      case ext::kKeyShare: {
        auto list = d.prefixed(2);
        if (!list) return fail(Errc::malformed);
        Reader l(*list);
        while (l.remaining() > 0) {
          auto group = l.u16();
          auto key = l.prefixed(2);
          if (!group || !key) return fail(Errc::malformed);
          ch.key_shares.emplace_back(*group, Bytes(key->begin(), key->end()));
        }
        break;
      }
      case ext::kSupportedGroups: {
        auto list = d.prefixed(2);
        if (!list || list->size() % 2 != 0) return fail(Errc::malformed);
        Reader l(*list);
        while (l.remaining() > 0) ch.supported_groups.push_back(*l.u16());
        break;
      }
      case ext::kAlpn: {
        auto list = d.prefixed(2);
        if (!list) return fail(Errc::malformed);
        Reader l(*list);
        while (l.remaining() > 0) {
          auto name = l.prefixed(1);
          if (!name || name->empty()) return fail(Errc::malformed);
          ch.alpn.emplace_back(as_chars(*name));
        }
        break;
      }
      case ext::kServerName: {
        auto list = d.prefixed(2);
        if (!list) return fail(Errc::malformed);
        Reader l(*list);
        auto kind = l.u8();
        auto name = l.prefixed(2);
        if (!kind || !name || *kind != 0) return fail(Errc::malformed);
        ch.server_name.assign(as_chars(*name));
        break;
      }
      case ext::kQuicTransportParameters:
        ch.quic_transport_parameters.emplace(data->begin(), data->end());
        break;
      default:
        break;
    }
  }
  return ch;
}

Result<ServerHello> parse_server_hello(ByteSpan body) {
  Reader r(body);
  ServerHello sh;
  auto version = r.u16();
  auto random = r.take(32);
  auto session_id = r.prefixed(1);
  auto suite = r.u16();
  auto compression = r.u8();
  if (!version || !random || !session_id || !suite || !compression) return fail(Errc::malformed);
  if (*version != 0x0303 || session_id->size() > 32 || *compression != 0) return fail(Errc::malformed);
  std::copy(random->begin(), random->end(), sh.random.begin());
  sh.hello_retry_request = sh.random == kHelloRetryRequestRandom;
  sh.session_id_echo.assign(session_id->begin(), session_id->end());
  sh.cipher_suite = *suite;
  if (r.remaining() == 0) return fail(Errc::unsupported);  // no extensions: TLS 1.2 or older
  auto extensions = r.prefixed(2);
  if (!extensions || r.remaining() != 0) return fail(Errc::malformed);
  Reader e(*extensions);
  std::optional<std::uint16_t> selected_version;
  while (e.remaining() > 0) {
    auto type = e.u16();
    auto data = e.prefixed(2);
    if (!type || !data) return fail(Errc::malformed);
    if (seen_before(sh.extensions, *type)) return fail(Errc::malformed);
    Reader d(*data);
    switch (*type) {
      case ext::kSupportedVersions:
        selected_version = d.u16();
        if (!selected_version) return fail(Errc::malformed);
        break;
      case ext::kKeyShare: {
        auto group = d.u16();
        if (!group) return fail(Errc::malformed);
        sh.key_share_group = *group;
        if (!sh.hello_retry_request) {
          auto share = d.prefixed(2);
          if (!share || share->empty()) return fail(Errc::malformed);
          sh.key_share.assign(share->begin(), share->end());
        }
        break;
      }
      case ext::kCookie: {
        if (!sh.hello_retry_request) return fail(Errc::malformed);
        auto cookie = d.prefixed(2);
        if (!cookie || cookie->empty()) return fail(Errc::malformed);
        sh.cookie.assign(cookie->begin(), cookie->end());
        break;
      }
      default:
        return fail(Errc::malformed);  // unsolicited (pre_shared_key included: we offer no PSK)
    }
    if (d.remaining() != 0) return fail(Errc::malformed);
  }
  if (!selected_version) return fail(Errc::unsupported);
  if (*selected_version != 0x0304) return fail(Errc::malformed);
  if (sh.key_share_group == 0 && (!sh.hello_retry_request || sh.cookie.empty())) return fail(Errc::malformed);
  return sh;
}

Result<EncryptedExtensions> parse_encrypted_extensions(ByteSpan body) {
  Reader r(body);
  auto extensions = r.prefixed(2);
  if (!extensions || r.remaining() != 0) return fail(Errc::malformed);
  EncryptedExtensions ee;
  Reader e(*extensions);
  while (e.remaining() > 0) {
    auto type = e.u16();
    auto data = e.prefixed(2);
    if (!type || !data) return fail(Errc::malformed);
    if (seen_before(ee.extensions, *type)) return fail(Errc::malformed);
    switch (*type) {
      case ext::kAlpn: {
        Reader d(*data);
        auto list = d.prefixed(2);
        if (!list || d.remaining() != 0) return fail(Errc::malformed);
        Reader l(*list);
        auto name = l.prefixed(1);
        if (!name || name->empty() || l.remaining() != 0) return fail(Errc::malformed);
        ee.alpn.assign(as_chars(*name));
        if (ee.alpn != "h2" && ee.alpn != "http/1.1" && ee.alpn != "h3") return fail(Errc::malformed);
        break;
      }
      case ext::kQuicTransportParameters:
        ee.quic_transport_parameters.assign(data->begin(), data->end());
        break;
      case ext::kServerName:
        if (!data->empty()) return fail(Errc::malformed);
        break;
      case ext::kSupportedGroups:       // the server's preference: informational
      case ext::kEncryptedClientHello:  // retry_configs answering GREASE ECH: ignored (RFC 9849 §6.2)
      case ext::kApplicationSettings:   // ALPS: the caller decides whether it can answer it
      case ext::kTrustAnchors:
        break;
      default:
        return fail(Errc::malformed);  // unsolicited
    }
  }
  return ee;
}

Result<std::vector<Bytes>> parse_certificate(ByteSpan body) {
  Reader r(body);
  auto context = r.prefixed(1);
  auto list = r.prefixed(3);
  if (!context || !list || r.remaining() != 0) return fail(Errc::malformed);
  if (!context->empty()) return fail(Errc::malformed);  // only for post-handshake auth
  std::vector<Bytes> chain;
  Reader l(*list);
  while (l.remaining() > 0) {
    auto cert = l.prefixed(3);
    auto extensions = l.prefixed(2);
    if (!cert || !extensions || cert->empty()) return fail(Errc::malformed);
    chain.emplace_back(cert->begin(), cert->end());
  }
  if (chain.empty()) return fail(Errc::malformed);
  return chain;
}

Result<Bytes> decompress_certificate(ByteSpan body) {
  Reader r(body);
  auto algorithm = r.u16();
  auto length = r.u24();
  auto compressed = r.prefixed(3);
  if (!algorithm || !length || !compressed || compressed->empty() || r.remaining() != 0) return fail(Errc::malformed);
  if (*algorithm != 2) return fail(Errc::malformed);  // we offered brotli only
  if (*length == 0 || *length > kMaxHandshakeMessage) return fail(Errc::too_large);
  Bytes out(*length);
  std::size_t decoded = out.size();
  if (BrotliDecoderDecompress(compressed->size(), compressed->data(), &decoded, out.data()) !=
          BROTLI_DECODER_RESULT_SUCCESS ||
      decoded != out.size())
    return fail(Errc::malformed);
  return out;
}

Result<CertificateVerify> parse_certificate_verify(ByteSpan body) {
  Reader r(body);
  auto scheme = r.u16();
  auto signature = r.prefixed(2);
  if (!scheme || !signature || signature->empty() || r.remaining() != 0) return fail(Errc::malformed);
  return CertificateVerify{*scheme, Bytes(signature->begin(), signature->end())};
}

Result<void> parse_new_session_ticket(ByteSpan body) {
  Reader r(body);
  auto lifetime = r.u32();
  auto age_add = r.u32();
  auto nonce = r.prefixed(1);
  auto ticket = r.prefixed(2);
  auto extensions = r.prefixed(2);
  if (!lifetime || !age_add || !nonce || !ticket || ticket->empty() || !extensions || r.remaining() != 0)
    return fail(Errc::malformed);
  return {};
}

Result<bool> parse_key_update(ByteSpan body) {
  if (body.size() != 1 || body[0] > 1) return fail(Errc::malformed);
  return body[0] == 1;
}

Bytes encode_handshake_message(std::uint8_t type, ByteSpan body) {
  Bytes out;
  Writer w(out);
  w.u8(type);
  w.u24(static_cast<std::uint32_t>(body.size()));
  w.bytes(body);
  return out;
}

Bytes encode_certificate(const std::vector<Bytes>& chain) {
  Bytes out;
  Writer w(out);
  w.u8(0);  // empty certificate_request_context
  std::size_t list = w.open_prefix(3);
  for (const auto& der : chain) {
    std::size_t entry = w.open_prefix(3);
    w.bytes(der);
    w.close_prefix(entry, 3);
    w.u16(0);
  }
  w.close_prefix(list, 3);
  return out;
}

Bytes compress_certificate(ByteSpan certificate_body) {
  std::size_t size = BrotliEncoderMaxCompressedSize(certificate_body.size());
  Bytes packed(size);
  if (!BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                             certificate_body.size(), certificate_body.data(), &size, packed.data()))
    return {};
  packed.resize(size);
  Bytes out;
  Writer w(out);
  w.u16(2);  // brotli
  w.u24(static_cast<std::uint32_t>(certificate_body.size()));
  w.u24(static_cast<std::uint32_t>(packed.size()));
  w.bytes(packed);
  return out;
}

void write_selected_alpn(Writer& w, std::string_view protocol) {
  w.u16(ext::kAlpn);
  std::size_t body = w.open_prefix(2);
  std::size_t names = w.open_prefix(2);
  std::size_t name = w.open_prefix(1);
  w.text(protocol);
  w.close_prefix(name, 1);
  w.close_prefix(names, 2);
  w.close_prefix(body, 2);
}

}  // namespace culvert::tls13
