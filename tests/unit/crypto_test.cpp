#include "crypto/crypto.h"

#include <gtest/gtest.h>

namespace culvert::crypto {

TEST(Hmac, MatchesRfc4231TestCase2) {
  auto mac = hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"));
  EXPECT_EQ(hex_encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Base64Url, RoundTripsEveryLength) {
  for (std::size_t n = 0; n < 40; ++n) {
    auto data = random_bytes(n);
    auto text = base64url_encode(data);
    EXPECT_EQ(text.find('='), std::string::npos);
    auto back = base64url_decode(text);
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, data);
  }
}

TEST(Base64Url, RejectsBadAlphabetLengthAndNonCanonicalBits) {
  EXPECT_FALSE(base64url_decode("ab+c"));
  EXPECT_FALSE(base64url_decode("abcde"));
  EXPECT_FALSE(base64url_decode("AB"));  // trailing bits set
  EXPECT_TRUE(base64url_decode("AA"));
}

TEST(ConstantTimeCompare, ComparesContentAndSize) {
  Bytes a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4};
  EXPECT_TRUE(equal_constant_time(a, b));
  EXPECT_FALSE(equal_constant_time(a, c));
  EXPECT_FALSE(equal_constant_time(a, Bytes{1, 2}));
}

TEST(RandomBelow, StaysInRange) {
  for (int i = 0; i < 1000; ++i) EXPECT_LT(random_below(7), 7u);
  EXPECT_EQ(random_below(1), 0u);
}

}  // namespace culvert::crypto
