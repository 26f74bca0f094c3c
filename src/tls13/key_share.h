// The client's side of one key-exchange group: X25519, P-256, P-384, or the hybrid
// X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem: client share = ML-KEM-768 encapsulation key ||
// X25519 key; server share = ML-KEM ciphertext || X25519 key; secret = ML-KEM secret || X25519
// secret). Holds the private keys until agree() and wipes them on destruction.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/bytes.h"
#include "core/result.h"
#include "crypto/mlkem768.h"

namespace culvert::tls13 {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

class KeyShare {
 public:
  // Errc::unsupported for a group this client does not implement.
  static Result<KeyShare> generate(std::uint16_t group);
  // An X25519 share from a stored private key (a server's static key).
  static Result<KeyShare> from_x25519_private(const std::array<std::uint8_t, 32>& private_key);

  std::uint16_t group() const { return group_; }
  const Bytes& public_bytes() const { return public_; }
  // The shared secret for the server's key_exchange bytes; an error for a malformed share.
  Result<Bytes> agree(ByteSpan server_share) const;

  KeyShare(KeyShare&&) noexcept = default;
  KeyShare& operator=(KeyShare&&) noexcept = default;
  ~KeyShare();

 private:
  KeyShare() = default;
  std::uint16_t group_ = 0;
  EvpPkeyPtr ecdh_;
  std::unique_ptr<crypto::mlkem768::KeyPair> mlkem_;
  Bytes public_;
};

// Server side of X25519MLKEM768 for tests and tools: the server share and the shared secret.
struct HybridEncapsulation {
  Bytes server_share;
  Bytes shared_secret;
};
Result<HybridEncapsulation> encapsulate_x25519_mlkem768(ByteSpan client_share);

}  // namespace culvert::tls13
