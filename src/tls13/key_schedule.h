// TLS 1.3 key schedule (RFC 8446 §7.1) for the three cipher suites Chromium offers, on HMAC from
// libcrypto: HKDF-Extract, HKDF-Expand-Label, Derive-Secret, traffic keys, KeyUpdate and the
// exporter (RFC 8446 §7.5). Pure code: no I/O, no state beyond the arguments.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <string_view>

#include <array>

#include "core/bytes.h"
#include "core/result.h"

namespace culvert::tls13 {

struct CipherSuite {
  std::uint16_t id;
  const EVP_MD* (*md)();
  const EVP_CIPHER* (*aead)();
  std::size_t key_length;
  std::size_t hash_length;
};

// The suites this client can run, nullptr for any other id.
const CipherSuite* find_cipher_suite(std::uint16_t id);

Bytes hash(const CipherSuite& suite, ByteSpan data);
Bytes hmac(const CipherSuite& suite, ByteSpan key, ByteSpan data);
Bytes hkdf_extract(const CipherSuite& suite, ByteSpan salt, ByteSpan ikm);
Bytes hkdf_expand_label(const CipherSuite& suite, ByteSpan secret, std::string_view label, ByteSpan context,
                        std::size_t length);
// Derive-Secret(secret, label, messages) with the transcript hash already taken.
Bytes derive_secret(const CipherSuite& suite, ByteSpan secret, std::string_view label, ByteSpan transcript_hash);

// The secrets of one handshake, derived step by step as the transcript grows.
struct HandshakeSecrets {
  Bytes client_handshake_traffic;
  Bytes server_handshake_traffic;
  Bytes master;
};
// From the (EC)DHE shared secret and Hash(ClientHello..ServerHello); no PSK.
HandshakeSecrets derive_handshake_secrets(const CipherSuite& suite, ByteSpan shared_secret, ByteSpan hello_hash);

struct ApplicationSecrets {
  Bytes client_application_traffic;
  Bytes server_application_traffic;
  Bytes exporter_master;
};
// From the master secret and Hash(ClientHello..server Finished).
ApplicationSecrets derive_application_secrets(const CipherSuite& suite, ByteSpan master, ByteSpan finished_hash);

// Finished verify_data for a base (handshake traffic) secret and a transcript hash.
Bytes finished_mac(const CipherSuite& suite, ByteSpan base_key, ByteSpan transcript_hash);
// application_traffic_secret_N+1 (RFC 8446 §7.2).
Bytes next_traffic_secret(const CipherSuite& suite, ByteSpan secret);
// TLS-Exporter(label, context, length) from the exporter master secret.
Bytes export_keying_material(const CipherSuite& suite, ByteSpan exporter_master, std::string_view label,
                             ByteSpan context, std::size_t length);

// The 32-byte exporter (empty context) both ends of a Culvert tunnel authenticate with; an error
// before the handshake has produced an exporter master secret.
Result<std::array<std::uint8_t, 32>> export_32(const CipherSuite* suite, ByteSpan exporter_master,
                                               std::string_view label);

}  // namespace culvert::tls13
