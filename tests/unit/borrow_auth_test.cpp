// Authentication inside the ClientHello (borrow_auth.h): only the holder of the server key and the
// user's secret gets a matching tag; any changed byte, another secret or a replay is refused.
#include "tls13/borrow_auth.h"

#include <gtest/gtest.h>

#include <set>

#include "crypto/crypto.h"
#include "tls13/client_hello.h"
#include "tls13/key_share.h"

namespace culvert::tls13 {
namespace {

struct Parties {
  KeyShare server_static = KeyShare::generate(group::kX25519).value();
  KeyShare client_share = KeyShare::generate(group::kX25519).value();
  std::array<std::uint8_t, 8> key_id{1, 2, 3, 4, 5, 6, 7, 8};
  std::array<std::uint8_t, 32> secret{};
  Bytes hello;

  Parties() {
    crypto::random_bytes(secret);
    ClientHelloSpec spec;
    spec.server_name = "www.example.com";
    spec.key_shares.push_back({group::kX25519, client_share.public_bytes()});
    HelloRandomness r = HelloRandomness::draw();
    r.session_id.fill(0);
    hello = build_client_hello(spec, r);
  }
  Bytes client_shared() const { return client_share.agree(server_static.public_bytes()).value(); }
  Bytes server_shared() const { return server_static.agree(client_share.public_bytes()).value(); }
};

TEST(BorrowAuth, ServerReadsTheClaimAndAcceptsTheTag) {
  Parties s;
  Bytes extra = seal_borrow_session_id(s.hello, s.client_shared(), s.key_id, s.secret, 1700000000);
  EXPECT_EQ(extra.size(), 32u);
  auto claim = open_borrow_claim(s.hello, s.server_shared());
  EXPECT_EQ(claim.key_id, s.key_id);
  EXPECT_EQ(claim.unix_seconds, 1700000000u);
  auto server_extra = verify_borrow_tag(s.hello, s.server_shared(), s.secret);
  ASSERT_TRUE(server_extra);
  EXPECT_EQ(*server_extra, extra);
}

TEST(BorrowAuth, ChangedByteOtherSecretOrOtherServerKeyFail) {
  Parties s;
  seal_borrow_session_id(s.hello, s.client_shared(), s.key_id, s.secret, 1700000000);
  for (std::size_t at : {std::size_t{10}, kSessionIdOffset + 20, s.hello.size() - 1}) {
    Bytes changed = s.hello;
    changed[at] ^= 0x01;
    EXPECT_FALSE(verify_borrow_tag(changed, s.server_shared(), s.secret)) << at;
  }
  std::array<std::uint8_t, 32> other = s.secret;
  other[0] ^= 1;
  EXPECT_FALSE(verify_borrow_tag(s.hello, s.server_shared(), other));
  KeyShare stranger = KeyShare::generate(group::kX25519).value();
  EXPECT_FALSE(verify_borrow_tag(s.hello, stranger.agree(s.client_share.public_bytes()).value(), s.secret));
}

TEST(BorrowAuth, SessionIdLooksRandomAcrossHellos) {
  // The same user at the same second: every session id differs (fresh ClientHello.random).
  std::set<Bytes> ids;
  for (int i = 0; i < 50; ++i) {
    Parties s;
    seal_borrow_session_id(s.hello, s.client_shared(), s.key_id, s.secret, 1700000000);
    ids.insert(Bytes(s.hello.begin() + kSessionIdOffset, s.hello.begin() + kSessionIdOffset + 32));
  }
  EXPECT_EQ(ids.size(), 50u);
}

TEST(BorrowAuth, AShiftedTimeFailsTheTag) {
  // The claim is masked by XOR, so flipping a bit of it flips the time it reads as: the tag must
  // cover the claim, or a captured hello could be moved back into the time window.
  Parties s;
  seal_borrow_session_id(s.hello, s.client_shared(), s.key_id, s.secret, 1700000000);
  Bytes shifted = s.hello;
  shifted[kSessionIdOffset + 11] ^= 0x04;
  EXPECT_EQ(open_borrow_claim(shifted, s.server_shared()).unix_seconds, 1700000000u ^ 0x04);
  EXPECT_FALSE(verify_borrow_tag(shifted, s.server_shared(), s.secret));
}

TEST(BorrowAuth, OverQuicTheProofTravelsInTheRandom) {
  Parties s;
  const Bytes before = s.hello;
  Bytes extra =
      seal_borrow_session_id(s.hello, s.client_shared(), s.key_id, s.secret, 1700000000, HelloCarrier::random);
  // Only the random changed; the session id stays as it was.
  for (std::size_t i = 0; i < s.hello.size(); ++i) {
    if (i < kRandomOffset || i >= kRandomOffset + 32) {
      ASSERT_EQ(s.hello[i], before[i]) << i;
    }
  }
  auto claim = open_borrow_claim(s.hello, s.server_shared(), HelloCarrier::random);
  EXPECT_EQ(claim.key_id, s.key_id);
  EXPECT_EQ(claim.unix_seconds, 1700000000u);
  auto server_extra = verify_borrow_tag(s.hello, s.server_shared(), s.secret, HelloCarrier::random);
  ASSERT_TRUE(server_extra);
  EXPECT_EQ(*server_extra, extra);
  // The carriers' keys are kept apart, and a changed byte anywhere fails.
  EXPECT_FALSE(verify_borrow_tag(s.hello, s.server_shared(), s.secret, HelloCarrier::session_id));
  for (std::size_t at : {std::size_t{10}, kRandomOffset + 9, kRandomOffset + 20, s.hello.size() - 1}) {
    Bytes changed = s.hello;
    changed[at] ^= 0x01;
    EXPECT_FALSE(verify_borrow_tag(changed, s.server_shared(), s.secret, HelloCarrier::random)) << at;
  }
}

TEST(BorrowAuth, ReplayCacheRefusesTheSecondSightingAndStaysBounded) {
  ReplayCache cache(3);
  Bytes a = {1}, b = {2}, c = {3}, d = {4};
  EXPECT_TRUE(cache.first_sighting(a));
  EXPECT_FALSE(cache.first_sighting(a));
  EXPECT_TRUE(cache.first_sighting(b));
  EXPECT_TRUE(cache.first_sighting(c));
  EXPECT_TRUE(cache.first_sighting(d));  // evicts a
  EXPECT_TRUE(cache.first_sighting(a));
}

}  // namespace
}  // namespace culvert::tls13
