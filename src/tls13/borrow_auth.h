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
//                  "culvert borrow v1" || ClientHello with the session id zeroed)[0..20]
//   session_id = claim || tag
//   extra   = HKDF-Expand(user, "culvert borrow key", 32), appended to the (EC)DHE secret
//
// The tag covers the whole ClientHello, so a changed byte fails; the timestamp bounds replays in
// time and a cache of seen tags refuses them within the window. Pure code: no I/O.
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

struct BorrowClaim {
  std::array<std::uint8_t, 8> key_id{};
  std::uint32_t unix_seconds = 0;
};

// Client: writes the session id into `hello` (a ClientHello message whose session id is zero)
// and returns the extra key-schedule secret.
Bytes seal_borrow_session_id(Bytes& hello, ByteSpan shared, const std::array<std::uint8_t, 8>& key_id,
                             const std::array<std::uint8_t, 32>& secret, std::uint32_t unix_seconds);

// Server, step 1: the key id and time the session id claims (anyone can produce a claim; the tag
// decides).
BorrowClaim open_borrow_claim(ByteSpan hello, ByteSpan shared);
// Server, step 2: checks the tag against the claimed user's secret, in constant time; returns the
// extra key-schedule secret when it holds.
std::optional<Bytes> verify_borrow_tag(ByteSpan hello, ByteSpan shared, const std::array<std::uint8_t, 32>& secret);

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
