// TLS 1.3 record protection (RFC 8446 §5.2–5.3): AEAD with the per-record nonce (IV xor sequence
// number), the inner content type, and zero padding stripped on receipt. One object per direction
// and epoch; update() moves it to the next KeyUpdate epoch. Pure code: no I/O.
#pragma once

#include <openssl/evp.h>

#include <cstdint>

#include "core/bytes.h"
#include "core/result.h"
#include "tls13/key_schedule.h"

namespace culvert::tls13 {

enum ContentType : std::uint8_t {
  kChangeCipherSpec = 20,
  kAlert = 21,
  kHandshake = 22,
  kApplicationData = 23,
};

inline constexpr std::size_t kRecordHeaderSize = 5;
inline constexpr std::size_t kMaxPlaintext = 16384;
inline constexpr std::size_t kMaxCiphertext = 16384 + 256;
inline constexpr std::size_t kTagSize = 16;

struct TrafficKeys {
  Bytes key;
  Bytes iv;
};
TrafficKeys traffic_keys(const CipherSuite& suite, ByteSpan traffic_secret);

class RecordProtection {
 public:
  RecordProtection(const CipherSuite& suite, ByteSpan traffic_secret, bool encrypt);
  ~RecordProtection();
  RecordProtection(const RecordProtection&) = delete;
  RecordProtection& operator=(const RecordProtection&) = delete;

  // Appends one protected record (header included) carrying `plaintext` of `type`; at most
  // kMaxPlaintext bytes. `padding` zero bytes are added inside the encryption.
  void seal(std::uint8_t type, ByteSpan plaintext, Bytes& out, std::size_t padding = 0);
  // The same into `out`, which has room for sealed_size(plaintext.size(), padding) bytes (the data
  // path: no zeroing, and the plaintext is encrypted straight from where it is).
  void seal_into(std::uint8_t type, ByteSpan plaintext, std::uint8_t* out, std::size_t padding = 0);
  static constexpr std::size_t sealed_size(std::size_t plaintext, std::size_t padding = 0) {
    return kRecordHeaderSize + plaintext + 1 + padding + kTagSize;
  }
  // Opens a record in place: `header` is its 5 bytes, `body` the ciphertext. On success returns the
  // inner content type and leaves the plaintext in body[0, *length).
  Result<std::uint8_t> open(ByteSpan header, std::span<std::uint8_t> body, std::size_t* length);
  // Next traffic secret (KeyUpdate); the sequence number starts over.
  void update();
  std::uint64_t sequence() const { return sequence_; }

 private:
  void install(ByteSpan secret);
  void nonce(std::uint8_t out[12]) const;

  const CipherSuite& suite_;
  bool encrypt_;
  Bytes secret_;
  Bytes iv_;
  std::uint64_t sequence_ = 0;
  EVP_CIPHER_CTX* ctx_;
};

}  // namespace culvert::tls13
