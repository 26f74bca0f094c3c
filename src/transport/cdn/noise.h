// The CDN transport's end-to-end handshake: the Noise NK pattern (the client knows the server's
// static X25519 key from the link) with the hybrid forward-secrecy modifier "hfs" (an ML-KEM-768
// key in the first message, its ciphertext in the second), over SHA-256 and ChaCha20-Poly1305:
//
//   <- s
//   ...
//   -> e, es, e1        client: ephemeral X25519, DH(e, s), ML-KEM-768 encapsulation key (encrypted)
//   <- e, ekem1, ee     server: ephemeral X25519, ML-KEM ciphertext, DH(e, e)
//
// The CDN in the middle terminates TLS, so this is what keeps it (and anyone who records it)
// from reading, forging or replaying a session. Each message carries an encrypted payload; the
// first one's is written after the hash that it may authenticate (the user's proof binds it).
// Split() gives one key per direction. Byte layout: docs/protocol.md ("The CDN transport").
// Pure code: no I/O. Not thread-safe; one object per handshake.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "core/bytes.h"
#include "core/result.h"
#include "crypto/crypto.h"
#include "crypto/mlkem768.h"
#include "tls13/key_share.h"

namespace culvert::cdn {

using Key = std::array<std::uint8_t, 32>;

inline constexpr std::size_t kAeadTag = 16;

// ChaCha20-Poly1305 under one key with Noise's nonce (4 zero bytes, the 64-bit counter little
// endian). Keeps its OpenSSL context, so sealing many records costs no allocation per record.
class Aead {
 public:
  explicit Aead(const Key& key);
  ~Aead();
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;

  // Appends ciphertext || tag of `plaintext` to `out`.
  void seal(std::uint64_t nonce, ByteSpan ad, ByteSpan plaintext, Bytes& out);
  // Decrypts `ciphertext` (with its tag) into `out` (replaced); false if it does not authenticate.
  bool open(std::uint64_t nonce, ByteSpan ad, ByteSpan ciphertext, Bytes& out);

 private:
  Key key_;
  EVP_CIPHER_CTX* ctx_;
};

// What a finished handshake leaves: one key per direction and the handshake hash (which both
// sides share and nobody else can compute).
struct SessionKeys {
  Key client_to_server{};
  Key server_to_client{};
  crypto::Digest handshake_hash{};
};

// Noise's SymmetricState (ck, h, k, n).
class SymmetricState {
 public:
  explicit SymmetricState(ByteSpan prologue);
  void mix_hash(ByteSpan data);
  void mix_key(ByteSpan input_key_material);
  // With a key: seals under h as associated data, then mixes the ciphertext into h.
  Bytes encrypt_and_hash(ByteSpan plaintext);
  Result<Bytes> decrypt_and_hash(ByteSpan ciphertext);
  const crypto::Digest& hash() const { return h_; }
  SessionKeys split() const;

 private:
  crypto::Digest ck_{};
  crypto::Digest h_{};
  std::optional<Key> k_;
  std::uint64_t n_ = 0;
};

// Sizes of the two messages without their payloads.
inline constexpr std::size_t kMessage1Overhead = 32 + crypto::mlkem768::kEncapsulationKeySize + kAeadTag + kAeadTag;
inline constexpr std::size_t kMessage2Overhead = 32 + crypto::mlkem768::kCiphertextSize + kAeadTag + kAeadTag;

class Initiator {
 public:
  // `server_static`: the server's X25519 public key. Errors only if key generation fails.
  static Result<std::unique_ptr<Initiator>> create(const Key& server_static, ByteSpan prologue);

  // The first message. `payload` is called with the handshake hash at the point the payload is
  // encrypted (for a proof bound to this handshake) and returns the payload's plaintext.
  Result<Bytes> write_message1(const std::function<Bytes(const crypto::Digest&)>& payload);
  // The server's answer: its payload's plaintext, and the session keys in `keys`.
  Result<Bytes> read_message2(ByteSpan message, SessionKeys& keys);

 private:
  Initiator(ByteSpan prologue, const Key& server_static);
  SymmetricState state_;
  Key server_static_;
  std::optional<tls13::KeyShare> ephemeral_;
  std::unique_ptr<crypto::mlkem768::KeyPair> kem_;
};

class Responder {
 public:
  // `static_private`: the server's X25519 private key (its public half is in every link).
  static Result<std::unique_ptr<Responder>> create(const Key& static_private, ByteSpan prologue);

  struct Message1 {
    Key ephemeral{};            // the client's ephemeral key (unique per handshake: the replay check's key)
    crypto::Digest proof_hash;  // the handshake hash the payload's proof was made over
    Bytes payload;
  };
  // Malformed or not for this server's key: Errc::auth_failed (nothing tells the two apart).
  Result<Message1> read_message1(ByteSpan message);
  // The answer, and the session keys in `keys`.
  Result<Bytes> write_message2(ByteSpan payload, SessionKeys& keys);

 private:
  Responder(ByteSpan prologue, const Key& static_public);
  SymmetricState state_;
  std::optional<tls13::KeyShare> static_;
  Key client_ephemeral_{};
  Bytes client_kem_key_;
};

}  // namespace culvert::cdn
