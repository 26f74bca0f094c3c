// Authentication inside the ClientHello for the borrowed-site transport (transport = "borrow").
// The client proves, in the 32-byte legacy_session_id that Chromium fills with random bytes, that
// it holds a user's secret and knows the server's static X25519 public key; the server proves its
// private key by mixing a secret derived from the same exchange into the TLS key schedule, so a
// server without it cannot produce a Finished the client accepts. To anyone else every byte of
// the ClientHello keeps Chromium's shape and randomness.
//
//   shared  = X25519(client's X25519 key-share private key, server static public key)
//   prk     = HKDF-Extract(salt = ClientHello.random, shared)                       (SHA-256)
//   claim   = (key_id[8] || unix_seconds u32) XOR HKDF-Expand(prk, "culvert borrow id", 12)
//   user    = HKDF-Extract(salt = prk, user secret)
//   tag     = HMAC(HKDF-Expand(user, "culvert borrow tag", 32),
//                  "culvert borrow v1" || ClientHello with the tag's 20 bytes zeroed)[0..20]
//   session_id = claim || tag
//   extra   = HKDF-Expand(user, "culvert borrow key", 32), appended to the (EC)DHE secret
//
// The tag covers the whole ClientHello, the claim included, so a changed byte fails (a masked
// timestamp cannot be shifted by flipping bits); the timestamp bounds replays in time and a cache
// of seen tags refuses them within the window. Pure code: no I/O.
//
// Over QUIC the legacy session id must stay empty (RFC 9001 §8.4), so the same proof travels in
// the ClientHello's 32-byte random (HelloCarrier::random), which every browser fills with random
// bytes too: prk's salt is the constant "culvert quic v1" instead of the random, the labels say
// "quic" instead of "borrow", and the tag zeroes its own bytes of the random.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_set>

#include "core/bytes.h"

namespace culvert::tls13 {

inline constexpr std::size_t kSessionIdOffset = 4 + 2 + 32 + 1;  // in the ClientHello message
inline constexpr std::size_t kRandomOffset = 4 + 2;

enum class HelloCarrier { session_id, random };

// What a client authenticates with inside the ClientHello: the server's static X25519 key and the
// user's credential. The server is then proven by the key schedule, not by its certificate.
struct BorrowCredentials {
  std::array<std::uint8_t, 32> server_public_key{};
  std::array<std::uint8_t, 8> key_id{};
  std::array<std::uint8_t, 32> secret{};
};

// Seconds since 1970, as the claim carries them.
std::uint32_t hello_auth_now();

struct BorrowClaim {
  std::array<std::uint8_t, 8> key_id{};
  std::uint32_t unix_seconds = 0;
};

// Client: writes claim and tag into `hello` (a ClientHello message) at the carrier
// and returns the extra key-schedule secret.
Bytes seal_borrow_session_id(Bytes& hello, ByteSpan shared, const std::array<std::uint8_t, 8>& key_id,
                             const std::array<std::uint8_t, 32>& secret, std::uint32_t unix_seconds,
                             HelloCarrier carrier = HelloCarrier::session_id);

// Server, step 1: the key id and time the session id claims (anyone can produce a claim; the tag
// decides).
BorrowClaim open_borrow_claim(ByteSpan hello, ByteSpan shared, HelloCarrier carrier = HelloCarrier::session_id);
// Server, step 2: checks the tag against the claimed user's secret, in constant time; returns the
// extra key-schedule secret when it holds.
std::optional<Bytes> verify_borrow_tag(ByteSpan hello, ByteSpan shared, const std::array<std::uint8_t, 32>& secret,
                                       HelloCarrier carrier = HelloCarrier::session_id);

// Tags seen within the time window; a second sighting is a replay. Bounded in size.
class ReplayCache {
 public:
  explicit ReplayCache(std::size_t capacity = 1 << 20) : capacity_(capacity) {}
  // True the first time `tag` is offered (and remembers it), false for a replay.
  bool first_sighting(ByteSpan tag);

 private:
  std::size_t capacity_;
  std::unordered_set<std::string> seen_;
  std::deque<std::string> order_;
};

}  // namespace culvert::tls13
