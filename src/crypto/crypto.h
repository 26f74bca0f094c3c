// Small wrappers over OpenSSL's libcrypto: hashes, HMAC, randomness, constant-time compare,
// base64url and X25519 key generation. All functions are thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"

namespace culvert::crypto {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(ByteSpan data);
Digest hmac_sha256(ByteSpan key, ByteSpan data);

// Fills `out` from the OS CSPRNG (OpenSSL RAND_bytes); aborts if the generator fails.
void random_bytes(std::span<std::uint8_t> out);
Bytes random_bytes(std::size_t n);
// Uniform in [0, bound).
std::uint32_t random_below(std::uint32_t bound);

// Compares in time independent of where the inputs differ. Unequal sizes compare false.
bool equal_constant_time(ByteSpan a, ByteSpan b);

// RFC 4648 §5 base64url without padding.
std::string base64url_encode(ByteSpan data);
std::optional<Bytes> base64url_decode(std::string_view text);
std::string hex_encode(ByteSpan data);

struct X25519KeyPair {
  std::array<std::uint8_t, 32> private_key;
  std::array<std::uint8_t, 32> public_key;
};
X25519KeyPair x25519_generate();
std::optional<std::array<std::uint8_t, 32>> x25519_public_key(const std::array<std::uint8_t, 32>& private_key);
// A private key stored as one line of base64url (the data directory's static.key).
std::optional<std::array<std::uint8_t, 32>> read_x25519_private_key(const std::string& path);

}  // namespace culvert::crypto
