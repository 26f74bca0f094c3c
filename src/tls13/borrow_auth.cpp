#include "tls13/borrow_auth.h"

#include <openssl/crypto.h>

#include <chrono>

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

// Where the proof travels and the labels that keep the two carriers' keys apart.
struct Layout {
  std::size_t offset;  // of the 32 bytes carrying claim || tag, in the ClientHello message
  bool salt_is_random;
  std::string_view id_label, tag_label, key_label, context;
};

const Layout& layout_of(HelloCarrier carrier) {
  static const Layout session_id{
      kSessionIdOffset, true, "culvert borrow id", "culvert borrow tag", "culvert borrow key", "culvert borrow v1"};
  // The random is the carrier itself, so it cannot salt; the (EC)DHE share behind `shared` is
  // fresh for every hello anyway.
  static const Layout random{kRandomOffset,    false, "culvert quic id", "culvert quic tag", "culvert quic key",
                             "culvert quic v1"};
  return carrier == HelloCarrier::session_id ? session_id : random;
}

Bytes prk_of(const Layout& l, ByteSpan hello, ByteSpan shared) {
  if (l.salt_is_random) return hkdf_extract(sha256_suite(), hello.subspan(kRandomOffset, 32), shared);
  return hkdf_extract(sha256_suite(), as_bytes(l.context), shared);
}

Bytes user_prk(ByteSpan prk, const std::array<std::uint8_t, 32>& secret) {
  return hkdf_extract(sha256_suite(), prk, secret);
}

// Over the whole hello with only the tag's own bytes zeroed: the claim (user and time) is covered,
// so nobody can move a captured hello's time into the window by flipping the masked bits.
Bytes tag_of(const Layout& l, ByteSpan hello, ByteSpan user) {
  Bytes zeroed(hello.begin(), hello.end());
  std::fill(zeroed.begin() + static_cast<std::ptrdiff_t>(l.offset + kClaimSize),
            zeroed.begin() + static_cast<std::ptrdiff_t>(l.offset + 32), 0);
  Bytes data(as_bytes(l.context).begin(), as_bytes(l.context).end());
  data.insert(data.end(), zeroed.begin(), zeroed.end());
  Bytes tag = hmac(sha256_suite(), expand(user, l.tag_label, 32), data);
  tag.resize(kTagSize);
  return tag;
}

}  // namespace

Bytes seal_borrow_session_id(Bytes& hello, ByteSpan shared, const std::array<std::uint8_t, 8>& key_id,
                             const std::array<std::uint8_t, 32>& secret, std::uint32_t unix_seconds,
                             HelloCarrier carrier) {
  const Layout& l = layout_of(carrier);
  Bytes prk = prk_of(l, hello, shared);
  Bytes mask = expand(prk, l.id_label, kClaimSize);
  std::uint8_t* carried = hello.data() + l.offset;
  for (std::size_t i = 0; i < 8; ++i) carried[i] = key_id[i] ^ mask[i];
  for (std::size_t i = 0; i < 4; ++i)
    carried[8 + i] = static_cast<std::uint8_t>(unix_seconds >> (24 - 8 * i)) ^ mask[8 + i];
  Bytes user = user_prk(prk, secret);
  Bytes tag = tag_of(l, hello, user);
  std::copy(tag.begin(), tag.end(), carried + kClaimSize);
  Bytes extra = expand(user, l.key_label, 32);
  OPENSSL_cleanse(user.data(), user.size());
  OPENSSL_cleanse(prk.data(), prk.size());
  return extra;
}

BorrowClaim open_borrow_claim(ByteSpan hello, ByteSpan shared, HelloCarrier carrier) {
  const Layout& l = layout_of(carrier);
  Bytes prk = prk_of(l, hello, shared);
  Bytes mask = expand(prk, l.id_label, kClaimSize);
  const std::uint8_t* carried = hello.data() + l.offset;
  BorrowClaim claim;
  for (std::size_t i = 0; i < 8; ++i) claim.key_id[i] = carried[i] ^ mask[i];
  for (std::size_t i = 0; i < 4; ++i) claim.unix_seconds = (claim.unix_seconds << 8) | (carried[8 + i] ^ mask[8 + i]);
  OPENSSL_cleanse(prk.data(), prk.size());
  return claim;
}

std::optional<Bytes> verify_borrow_tag(ByteSpan hello, ByteSpan shared, const std::array<std::uint8_t, 32>& secret,
                                       HelloCarrier carrier) {
  const Layout& l = layout_of(carrier);
  Bytes prk = prk_of(l, hello, shared);
  Bytes user = user_prk(prk, secret);
  Bytes expected = tag_of(l, hello, user);
  bool ok = crypto::equal_constant_time(expected, hello.subspan(l.offset + kClaimSize, kTagSize));
  std::optional<Bytes> extra;
  if (ok) extra = expand(user, l.key_label, 32);
  OPENSSL_cleanse(user.data(), user.size());
  OPENSSL_cleanse(prk.data(), prk.size());
  return extra;
}

std::uint32_t hello_auth_now() {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
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
