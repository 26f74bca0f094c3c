#include "tls13/key_schedule.h"

#include <openssl/hmac.h>

#include <array>
#include <cstdlib>

namespace culvert::tls13 {
namespace {

const std::array<CipherSuite, 3> kSuites = {{
    {0x1301, EVP_sha256, EVP_aes_128_gcm, 16, 32},
    {0x1302, EVP_sha384, EVP_aes_256_gcm, 32, 48},
    {0x1303, EVP_sha256, EVP_chacha20_poly1305, 32, 32},
}};

}  // namespace

const CipherSuite* find_cipher_suite(std::uint16_t id) {
  for (const auto& s : kSuites)
    if (s.id == id) return &s;
  return nullptr;
}

Bytes hash(const CipherSuite& suite, ByteSpan data) {
  Bytes out(suite.hash_length);
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, suite.md(), nullptr) != 1) std::abort();
  return out;
}

Bytes hmac(const CipherSuite& suite, ByteSpan key, ByteSpan data) {
  Bytes out(suite.hash_length);
  unsigned int n = 0;
  if (!HMAC(suite.md(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &n))
    std::abort();
  return out;
}

Bytes hkdf_extract(const CipherSuite& suite, ByteSpan salt, ByteSpan ikm) {
  // RFC 5869: a missing salt is HashLen zero bytes.
  Bytes zero(suite.hash_length, 0);
  return hmac(suite, salt.empty() ? ByteSpan(zero) : salt, ikm);
}

Bytes hkdf_expand_label(const CipherSuite& suite, ByteSpan secret, std::string_view label, ByteSpan context,
                        std::size_t length) {
  // HkdfLabel = uint16 length || opaque label<7..255> = "tls13 " + label || opaque context<0..255>
  Bytes info;
  Writer w(info);
  w.u16(static_cast<std::uint16_t>(length));
  w.u8(static_cast<std::uint8_t>(6 + label.size()));
  w.bytes(as_bytes("tls13 "));
  w.bytes(as_bytes(label));
  w.u8(static_cast<std::uint8_t>(context.size()));
  w.bytes(context);
  // HKDF-Expand: T(i) = HMAC(PRK, T(i-1) || info || i).
  Bytes out;
  Bytes t;
  for (std::uint8_t i = 1; out.size() < length; ++i) {
    Bytes block = t;
    block.insert(block.end(), info.begin(), info.end());
    block.push_back(i);
    t = hmac(suite, secret, block);
    out.insert(out.end(), t.begin(), t.end());
  }
  out.resize(length);
  return out;
}

Bytes derive_secret(const CipherSuite& suite, ByteSpan secret, std::string_view label, ByteSpan transcript_hash) {
  return hkdf_expand_label(suite, secret, label, transcript_hash, suite.hash_length);
}

HandshakeSecrets derive_handshake_secrets(const CipherSuite& suite, ByteSpan shared_secret, ByteSpan hello_hash) {
  Bytes zero(suite.hash_length, 0);
  Bytes empty_hash = hash(suite, {});
  Bytes early = hkdf_extract(suite, {}, zero);
  Bytes derived = derive_secret(suite, early, "derived", empty_hash);
  Bytes handshake = hkdf_extract(suite, derived, shared_secret);
  HandshakeSecrets s;
  s.client_handshake_traffic = derive_secret(suite, handshake, "c hs traffic", hello_hash);
  s.server_handshake_traffic = derive_secret(suite, handshake, "s hs traffic", hello_hash);
  Bytes derived_for_master = derive_secret(suite, handshake, "derived", empty_hash);
  s.master = hkdf_extract(suite, derived_for_master, zero);
  return s;
}

ApplicationSecrets derive_application_secrets(const CipherSuite& suite, ByteSpan master, ByteSpan finished_hash) {
  ApplicationSecrets s;
  s.client_application_traffic = derive_secret(suite, master, "c ap traffic", finished_hash);
  s.server_application_traffic = derive_secret(suite, master, "s ap traffic", finished_hash);
  s.exporter_master = derive_secret(suite, master, "exp master", finished_hash);
  return s;
}

Bytes finished_mac(const CipherSuite& suite, ByteSpan base_key, ByteSpan transcript_hash) {
  Bytes key = hkdf_expand_label(suite, base_key, "finished", {}, suite.hash_length);
  return hmac(suite, key, transcript_hash);
}

Bytes next_traffic_secret(const CipherSuite& suite, ByteSpan secret) {
  return hkdf_expand_label(suite, secret, "traffic upd", {}, suite.hash_length);
}

Bytes export_keying_material(const CipherSuite& suite, ByteSpan exporter_master, std::string_view label,
                             ByteSpan context, std::size_t length) {
  Bytes secret = derive_secret(suite, exporter_master, label, hash(suite, {}));
  return hkdf_expand_label(suite, secret, "exporter", hash(suite, context), length);
}

Result<std::array<std::uint8_t, 32>> export_32(const CipherSuite* suite, ByteSpan exporter_master,
                                               std::string_view label) {
  if (!suite || exporter_master.empty()) return fail(Errc::tls_failed);
  Bytes key = export_keying_material(*suite, exporter_master, label, {}, 32);
  std::array<std::uint8_t, 32> out;
  std::copy(key.begin(), key.end(), out.begin());
  return out;
}

}  // namespace culvert::tls13
