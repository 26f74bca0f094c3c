// QUIC packet protection (RFC 9001 §5, RFC 9369 for version 2) on libcrypto: the keys a traffic
// secret gives, the Initial secrets anyone can derive from a Destination Connection ID, payload
// AEAD with the packet-number nonce, header protection, key update and the Retry integrity tag.
// These are the primitives ngtcp2's crypto callbacks ask for (encrypt, decrypt, hp_mask,
// update_key), so the QUIC transport runs on Culvert's own TLS 1.3 code and not on a TLS library
// whose ClientHello is a fingerprint; the lab reads a censor's view of Initials with the same code.
// Pure code: no I/O.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>

#include "core/bytes.h"
#include "core/result.h"
#include "tls13/key_schedule.h"

namespace culvert::quic {

inline constexpr std::uint32_t kVersion1 = 0x00000001;
inline constexpr std::uint32_t kVersion2 = 0x6b3343cf;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kSampleSize = 16;

bool is_supported_version(std::uint32_t version);

// The AEAD key, IV and header-protection key of one direction at one encryption level.
struct PacketKeys {
  const tls13::CipherSuite* suite = nullptr;
  Bytes key, iv, hp;
};

// RFC 9001 §5.1 ("quic key", "quic iv", "quic hp"; "quicv2 ..." for version 2).
Result<PacketKeys> packet_keys(const tls13::CipherSuite& suite, ByteSpan secret, std::uint32_t version);

struct InitialSecrets {
  Bytes client, server;
};
// RFC 9001 §5.2 (RFC 9369 §3.3.1 for version 2's salt): AES-128-GCM with SHA-256.
Result<InitialSecrets> initial_secrets(ByteSpan destination_id, std::uint32_t version);
// The suite Initial packets are protected with.
const tls13::CipherSuite& initial_suite();

// The secret after a key update (RFC 9001 §6.1: "quic ku", "quicv2 ku").
Bytes next_secret(const tls13::CipherSuite& suite, ByteSpan secret, std::uint32_t version);

// The per-packet nonce: the IV with the packet number XORed into its low bytes (RFC 9001 §5.3).
Bytes packet_nonce(ByteSpan iv, std::uint64_t packet_number);

// An AEAD key set up once and used for many packets (what ngtcp2 calls an AEAD context).
class Aead {
 public:
  static Result<Aead> create(const tls13::CipherSuite& suite, ByteSpan key, bool encrypting);
  // ciphertext || tag into `out` (plaintext.size() + kTagSize bytes); `out` may alias `plaintext`.
  Result<void> seal(ByteSpan nonce, ByteSpan associated, ByteSpan plaintext, std::uint8_t* out) const;
  // plaintext into `out` (sealed.size() - kTagSize bytes); Errc::tls_failed when the tag does not
  // match, Errc::malformed when `sealed` is shorter than a tag.
  Result<void> open(ByteSpan nonce, ByteSpan associated, ByteSpan sealed, std::uint8_t* out) const;

 private:
  struct Free {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_CIPHER_CTX, Free> ctx_;
  bool encrypting_ = true;
};

// Header protection (RFC 9001 §5.4): AES-ECB of the sample for the AES suites, ChaCha20 with the
// sample as counter and nonce for ChaCha20-Poly1305. Five mask bytes.
class HeaderProtection {
 public:
  static Result<HeaderProtection> create(const tls13::CipherSuite& suite, ByteSpan hp_key);
  Result<std::array<std::uint8_t, 5>> mask(ByteSpan sample) const;

 private:
  struct Free {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_CIPHER_CTX, Free> ctx_;
  bool chacha_ = false;
};

// A whole packet, protected: `header` is the unprotected header ending with the packet number's
// bytes (their count in the first byte's low two bits); the payload is sealed and the header's
// protected bits masked with a sample taken 4 bytes after the packet number starts.
Result<Bytes> protect_packet(const PacketKeys& keys, ByteSpan header, std::uint64_t packet_number, ByteSpan payload);

struct OpenedPacket {
  Bytes header;  // unprotected
  std::uint64_t packet_number = 0;
  std::size_t packet_number_length = 0;
  Bytes payload;
};
// The reverse, for a packet whose packet number starts at `pn_offset` and that ends at the end of
// `packet`; `largest_received` recovers the full packet number (RFC 9000 §A.3; -1 when none yet).
Result<OpenedPacket> unprotect_packet(const PacketKeys& keys, ByteSpan packet, std::size_t pn_offset,
                                      std::int64_t largest_received);

// RFC 9000 §A.3.
std::uint64_t decode_packet_number(std::int64_t largest_received, std::uint64_t truncated, std::size_t length);

// The Retry packet's integrity tag (RFC 9001 §5.8, RFC 9369 §3.3.3) over the pseudo-packet of the
// original Destination Connection ID and the Retry packet without its tag.
Result<std::array<std::uint8_t, kTagSize>> retry_integrity_tag(std::uint32_t version, ByteSpan original_destination_id,
                                                               ByteSpan retry_without_tag);

}  // namespace culvert::quic
