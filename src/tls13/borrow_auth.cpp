#include "tls13/borrow_auth.h"

#include <openssl/crypto.h>

#include "crypto/crypto.h"
#include "tls13/key_schedule.h"

namespace culvert::tls13 {
namespace {

constexpr std::size_t kClaimSize = 12;
constexpr std::size_t kTagSize = 20;

const CipherSuite& sha256_suite() { return *find_cipher_suite(0x1301); }

Bytes expand(ByteSpan prk, std::string_view label, std::size_t length) {
  // HKDF-Expand with a plain label (single block: length <= 32).
  Bytes info(label.begin(), label.end());
  info.push_back(1);
  Bytes out = hmac(sha256_suite(), prk, info);
  out.resize(length);
  return out;
}

Bytes prk_of(ByteSpan hello, ByteSpan shared) {
  return hkdf_extract(sha256_suite(), hello.subspan(kRandomOffset, 32), shared);
}

Bytes user_prk(ByteSpan prk, const std::array<std::uint8_t, 32>& secret) {
  return hkdf_extract(sha256_suite(), prk, secret);
}

Bytes tag_of(ByteSpan hello, ByteSpan user) {
  Bytes zeroed(hello.begin(), hello.end());
  std::fill(zeroed.begin() + kSessionIdOffset, zeroed.begin() + kSessionIdOffset + 32, 0);
  Bytes data(as_bytes("culvert borrow v1").begin(), as_bytes("culvert borrow v1").end());
  data.insert(data.end(), zeroed.begin(), zeroed.end());
  Bytes tag = hmac(sha256_suite(), expand(user, "culvert borrow tag", 32), data);
  tag.resize(kTagSize);
  return tag;
}

}  // namespace

Bytes seal_borrow_session_id(Bytes& hello, ByteSpan shared, const std::array<std::uint8_t, 8>& key_id,
                             const std::array<std::uint8_t, 32>& secret, std::uint32_t unix_seconds) {
  Bytes prk = prk_of(hello, shared);
  Bytes mask = expand(prk, "culvert borrow id", kClaimSize);
  std::uint8_t* sid = hello.data() + kSessionIdOffset;
  for (std::size_t i = 0; i < 8; ++i) sid[i] = key_id[i] ^ mask[i];
  for (std::size_t i = 0; i < 4; ++i)
    sid[8 + i] = static_cast<std::uint8_t>(unix_seconds >> (24 - 8 * i)) ^ mask[8 + i];
  std::fill(sid + kClaimSize, sid + 32, 0);
  Bytes user = user_prk(prk, secret);
  Bytes tag = tag_of(hello, user);
  std::copy(tag.begin(), tag.end(), sid + kClaimSize);
  Bytes extra = expand(user, "culvert borrow key", 32);
  OPENSSL_cleanse(user.data(), user.size());
  OPENSSL_cleanse(prk.data(), prk.size());
  return extra;
}

BorrowClaim open_borrow_claim(ByteSpan hello, ByteSpan shared) {
  Bytes prk = prk_of(hello, shared);
  Bytes mask = expand(prk, "culvert borrow id", kClaimSize);
  const std::uint8_t* sid = hello.data() + kSessionIdOffset;
  BorrowClaim claim;
  for (std::size_t i = 0; i < 8; ++i) claim.key_id[i] = sid[i] ^ mask[i];
  for (std::size_t i = 0; i < 4; ++i) claim.unix_seconds = (claim.unix_seconds << 8) | (sid[8 + i] ^ mask[8 + i]);
  OPENSSL_cleanse(prk.data(), prk.size());
  return claim;
}

std::optional<Bytes> verify_borrow_tag(ByteSpan hello, ByteSpan shared, const std::array<std::uint8_t, 32>& secret) {
  Bytes prk = prk_of(hello, shared);
  Bytes user = user_prk(prk, secret);
  Bytes expected = tag_of(hello, user);
  bool ok = crypto::equal_constant_time(expected, hello.subspan(kSessionIdOffset + kClaimSize, kTagSize));
  std::optional<Bytes> extra;
  if (ok) extra = expand(user, "culvert borrow key", 32);
  OPENSSL_cleanse(user.data(), user.size());
  OPENSSL_cleanse(prk.data(), prk.size());
  return extra;
}

bool ReplayCache::first_sighting(ByteSpan tag) {
  std::string key(as_chars(tag));
  if (!seen_.insert(key).second) return false;
  order_.push_back(std::move(key));
  if (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace culvert::tls13
