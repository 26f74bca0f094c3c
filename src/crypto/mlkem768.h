// ML-KEM-768 (FIPS 203), written here because OpenSSL 3.0 on Debian 12 has no ML-KEM. The TLS
// client needs it for Chromium's X25519MLKEM768 key share: key generation and decapsulation on the
// client, encapsulation for tests and for servers. Arithmetic is branch-free on secret data.
// Hashes (SHA3-256/512, SHAKE-128/256) come from libcrypto. Pure code: no I/O, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace culvert::crypto::mlkem768 {

inline constexpr std::size_t kEncapsulationKeySize = 1184;
inline constexpr std::size_t kDecapsulationKeySize = 2400;
inline constexpr std::size_t kCiphertextSize = 1088;
inline constexpr std::size_t kSharedSecretSize = 32;

using EncapsulationKey = std::array<std::uint8_t, kEncapsulationKeySize>;
using DecapsulationKey = std::array<std::uint8_t, kDecapsulationKeySize>;
using Ciphertext = std::array<std::uint8_t, kCiphertextSize>;
using SharedSecret = std::array<std::uint8_t, kSharedSecretSize>;

struct KeyPair {
  EncapsulationKey encapsulation_key;
  DecapsulationKey decapsulation_key;
};

// ML-KEM.KeyGen_internal (Algorithm 16) from the seeds d and z.
KeyPair generate_key_pair(std::span<const std::uint8_t, 32> d, std::span<const std::uint8_t, 32> z);
// ML-KEM.KeyGen with fresh randomness.
KeyPair generate_key_pair();

struct Encapsulation {
  Ciphertext ciphertext;
  SharedSecret shared_secret;
};
// ML-KEM.Encaps_internal (Algorithm 17) with the message m. Empty if `ek` fails the modulus check.
std::optional<Encapsulation> encapsulate(std::span<const std::uint8_t, kEncapsulationKeySize> ek,
                                         std::span<const std::uint8_t, 32> m);
std::optional<Encapsulation> encapsulate(std::span<const std::uint8_t, kEncapsulationKeySize> ek);

// ML-KEM.Decaps_internal (Algorithm 18), with implicit rejection: a wrong ciphertext yields a
// pseudorandom secret, never an error.
SharedSecret decapsulate(std::span<const std::uint8_t, kDecapsulationKeySize> dk,
                         std::span<const std::uint8_t, kCiphertextSize> ciphertext);

}  // namespace culvert::crypto::mlkem768
