#include "lab/client_hello.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "crypto/crypto.h"

namespace culvert::lab {
namespace {

std::string hex4(std::uint16_t v) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return buf;
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::vector<std::uint16_t> without_grease(const std::vector<std::uint16_t>& in) {
  std::vector<std::uint16_t> out;
  for (auto v : in)
    if (!is_grease(v)) out.push_back(v);
  return out;
}

std::string sha256_12(const std::string& text) {
  auto d = crypto::sha256(as_bytes(text));
  return crypto::hex_encode(d).substr(0, 12);
}

Result<std::vector<std::uint16_t>> u16_list(Reader& r, std::size_t length_bytes) {
  std::optional<std::uint16_t> len16;
  std::optional<std::uint8_t> len8;
  std::size_t len;
  if (length_bytes == 2) {
    len16 = r.u16();
    if (!len16) return fail(Errc::malformed);
    len = *len16;
  } else {
    len8 = r.u8();
    if (!len8) return fail(Errc::malformed);
    len = *len8;
  }
  auto body = r.take(len);
  if (!body || len % 2) return fail(Errc::malformed);
  std::vector<std::uint16_t> out;
  Reader b(*body);
  while (b.remaining()) out.push_back(*b.u16());
  return out;
}

}  // namespace

bool is_grease(std::uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

Result<ClientHello> parse_client_hello(ByteSpan stream) {
  // Reassemble the handshake message from consecutive handshake records.
  Bytes message;
  Reader records(stream);
  std::optional<std::uint16_t> record_version;  // the first record's
  std::size_t need = 0;
  while (true) {
    if (records.remaining() == 0) return fail(Errc::truncated);
    auto type = records.u8();
    auto version = records.u16();
    auto length = records.u16();
    if (!length) return fail(Errc::truncated);
    if (*type != 0x16 || (*version >> 8) != 0x03) return fail(Errc::malformed);
    if (!record_version) record_version = *version;
    auto body = records.take(*length);
    if (!body) return fail(Errc::truncated);
    message.insert(message.end(), body->begin(), body->end());
    if (message.size() >= 4) {
      if (message[0] != 0x01) return fail(Errc::malformed);
      need = (static_cast<std::size_t>(message[1]) << 16) | (message[2] << 8) | message[3];
      if (message.size() >= need + 4) break;
    }
  }
  auto parsed = parse_client_hello_message(ByteSpan(message).first(need + 4));
  if (parsed) parsed->record_version = *record_version;
  return parsed;
}

Result<ClientHello> parse_client_hello_message(ByteSpan message) {
  if (message.size() < 4) return fail(Errc::truncated);
  if (message[0] != 0x01) return fail(Errc::malformed);
  std::size_t need = (static_cast<std::size_t>(message[1]) << 16) | (message[2] << 8) | message[3];
  if (message.size() < need + 4) return fail(Errc::truncated);
  ClientHello hello;
  hello.handshake_length = need;
  Reader r(message.subspan(4, need));
  auto legacy = r.u16();
  if (!legacy || !r.take(32)) return fail(Errc::malformed);
  hello.legacy_version = *legacy;
  auto sid_len = r.u8();
  if (!sid_len || *sid_len > 32 || !r.take(*sid_len)) return fail(Errc::malformed);
  hello.session_id_length = *sid_len;
  auto ciphers = u16_list(r, 2);
  if (!ciphers) return fail(ciphers.error());
  hello.cipher_suites = *ciphers;
  auto comp_len = r.u8();
  if (!comp_len || !r.take(*comp_len)) return fail(Errc::malformed);
  if (r.remaining() == 0) return hello;  // no extensions (pre-TLS 1.2 style)
  auto ext_len = r.u16();
  if (!ext_len) return fail(Errc::malformed);
  auto exts = r.take(*ext_len);
  if (!exts) return fail(Errc::malformed);
  Reader e(*exts);
  while (e.remaining()) {
    auto type = e.u16();
    auto len = e.u16();
    if (!len) return fail(Errc::malformed);
    auto data = e.take(*len);
    if (!data) return fail(Errc::malformed);
    hello.extensions.push_back(*type);
    Reader d(*data);
    switch (*type) {
      case 0x0000: {  // server_name
        auto list_len = d.u16();
        auto name_type = d.u8();
        auto name_len = d.u16();
        if (list_len && name_type && name_len && *name_type == 0) {
          if (auto name = d.take(*name_len)) hello.sni = std::string(as_chars(*name));
        }
        break;
      }
      case 0x000a:
        if (auto v = u16_list(d, 2)) hello.supported_groups = *v;
        break;
      case 0x000b:
        if (auto n = d.u8()) {
          if (auto f = d.take(*n)) hello.ec_point_formats.assign(f->begin(), f->end());
        }
        break;
      case 0x000d:
        if (auto v = u16_list(d, 2)) hello.signature_algorithms = *v;
        break;
      case 0x002b:
        if (auto v = u16_list(d, 1)) hello.supported_versions = *v;
        break;
      case 0x0010: {  // ALPN
        auto list_len = d.u16();
        if (!list_len) break;
        while (d.remaining()) {
          auto n = d.u8();
          if (!n) break;
          auto proto = d.take(*n);
          if (!proto) break;
          hello.alpn.emplace_back(as_chars(*proto));
        }
        break;
      }
      case 0x0039:  // quic_transport_parameters (RFC 9001 §8.2)
        hello.quic_transport_parameters.assign(data->begin(), data->end());
        break;
      default:
        break;
    }
  }
  return hello;
}

std::string ja3_string(const ClientHello& h) {
  auto numbers = [](const auto& list) {
    std::vector<std::string> parts;
    for (auto v : list)
      if (!is_grease(static_cast<std::uint16_t>(v))) parts.push_back(std::to_string(v));
    return join(parts, '-');
  };
  return std::to_string(h.legacy_version) + "," + numbers(h.cipher_suites) + "," + numbers(h.extensions) + "," +
         numbers(h.supported_groups) + "," + numbers(h.ec_point_formats);
}

std::string ja3_hash(const ClientHello& h) {
  std::string s = ja3_string(h);
  unsigned char md[16];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  return crypto::hex_encode({md, len});
}

namespace {

struct Ja4Parts {
  std::string a, ciphers, extensions;
};

Ja4Parts ja4_parts(const ClientHello& h) {
  Ja4Parts p;
  std::uint16_t version = h.legacy_version;
  auto versions = without_grease(h.supported_versions);
  if (!versions.empty()) version = *std::max_element(versions.begin(), versions.end());
  std::string v;
  switch (version) {
    case 0x0304:
      v = "13";
      break;
    case 0x0303:
      v = "12";
      break;
    case 0x0302:
      v = "11";
      break;
    case 0x0301:
      v = "10";
      break;
    case 0x0300:
      v = "s3";
      break;
    default:
      v = "00";
  }
  auto ciphers = without_grease(h.cipher_suites);
  auto extensions = without_grease(h.extensions);
  char counts[8];
  std::snprintf(counts, sizeof counts, "%02zu%02zu", std::min<std::size_t>(ciphers.size(), 99),
                std::min<std::size_t>(extensions.size(), 99));
  std::string alpn = "00";
  if (!h.alpn.empty() && !h.alpn[0].empty()) {
    const std::string& first = h.alpn[0];
    unsigned char f = static_cast<unsigned char>(first.front()), l = static_cast<unsigned char>(first.back());
    if (std::isalnum(f) && std::isalnum(l)) {
      alpn = {static_cast<char>(f), static_cast<char>(l)};
    } else {
      // Non-alphanumeric: the first and last hex characters of the value (JA4 spec).
      std::string hex = crypto::hex_encode(as_bytes(first));
      alpn = {hex.front(), hex.back()};
    }
  }
  p.a = (h.over_quic ? "q" : "t") + v + (h.sni.empty() ? "i" : "d") + counts + alpn;
  std::sort(ciphers.begin(), ciphers.end());
  std::vector<std::string> c;
  for (auto x : ciphers) c.push_back(hex4(x));
  p.ciphers = join(c, ',');
  std::vector<std::uint16_t> ext_sorted;
  for (auto x : extensions)
    if (x != 0x0000 && x != 0x0010) ext_sorted.push_back(x);
  std::sort(ext_sorted.begin(), ext_sorted.end());
  std::vector<std::string> e;
  for (auto x : ext_sorted) e.push_back(hex4(x));
  p.extensions = join(e, ',');
  auto sigs = without_grease(h.signature_algorithms);
  if (!sigs.empty()) {
    std::vector<std::string> s;
    for (auto x : sigs) s.push_back(hex4(x));
    p.extensions += "_" + join(s, ',');
  }
  return p;
}

}  // namespace

std::string ja4(const ClientHello& h) {
  auto p = ja4_parts(h);
  std::string cipher_hash = p.ciphers.empty() ? "000000000000" : sha256_12(p.ciphers);
  return p.a + "_" + cipher_hash + "_" + sha256_12(p.extensions);
}

std::string ja4_raw(const ClientHello& h) {
  auto p = ja4_parts(h);
  return p.a + "_" + p.ciphers + "_" + p.extensions;
}

}  // namespace culvert::lab
