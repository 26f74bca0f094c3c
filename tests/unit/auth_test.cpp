#include "transport/tls/auth.h"

#include <gtest/gtest.h>

namespace culvert::tls {
namespace {

UserCredential credential(std::uint8_t seed) {
  UserCredential c;
  c.key_id.fill(seed);
  c.secret.fill(static_cast<std::uint8_t>(seed + 1));
  return c;
}

}  // namespace

TEST(AuthPreamble, VerifiesWithTheRightSecretAndExporter) {
  Exporter exporter{};
  exporter.fill(7);
  auto bytes = make_preamble(credential(1), exporter, 1);
  ASSERT_EQ(bytes.size(), kPreambleSize);
  auto p = parse_preamble(bytes);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 1);
  EXPECT_EQ(p->key_id, credential(1).key_id);
  EXPECT_TRUE(verify_preamble(*p, credential(1).secret, exporter));
}

TEST(AuthPreamble, FailsOnAnotherSessionsExporter) {
  Exporter exporter{}, other{};
  exporter.fill(7);
  other.fill(8);
  auto p = parse_preamble(make_preamble(credential(1), exporter, 1));
  EXPECT_FALSE(verify_preamble(*p, credential(1).secret, other));
}

TEST(AuthPreamble, FailsWithAnotherSecretOrAFlippedBit) {
  Exporter exporter{};
  auto bytes = make_preamble(credential(1), exporter, 1);
  EXPECT_FALSE(verify_preamble(*parse_preamble(bytes), credential(2).secret, exporter));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto flipped = bytes;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(verify_preamble(*parse_preamble(flipped), credential(1).secret, exporter)) << i;
  }
}

TEST(AuthPreamble, ShortInputIsTruncated) {
  EXPECT_EQ(parse_preamble(Bytes(kPreambleSize - 1, 0)).error(), Errc::truncated);
}

}  // namespace culvert::tls
