#include "core/address_policy.h"

#include <gtest/gtest.h>

namespace culvert {

TEST(AddressPolicy, RefusesLocalAndPrivateDestinationsByDefault) {
  for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1",
                        "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1"}) {
    EXPECT_TRUE(is_forbidden_destination(asio::ip::make_address(a), false)) << a;
  }
}

TEST(AddressPolicy, AllowsPublicDestinations) {
  for (const char* a : {"8.8.8.8", "172.32.0.1", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(is_forbidden_destination(asio::ip::make_address(a), false)) << a;
  }
}

TEST(AddressPolicy, AllowPrivateOpensLoopbackButNeverUnspecifiedOrMulticast) {
  EXPECT_FALSE(is_forbidden_destination(asio::ip::make_address("127.0.0.1"), true));
  EXPECT_FALSE(is_forbidden_destination(asio::ip::make_address("::1"), true));
  EXPECT_FALSE(is_forbidden_destination(asio::ip::make_address("192.168.0.10"), true));
  EXPECT_TRUE(is_forbidden_destination(asio::ip::make_address("0.0.0.0"), true));
  EXPECT_TRUE(is_forbidden_destination(asio::ip::make_address("::"), true));
  EXPECT_TRUE(is_forbidden_destination(asio::ip::make_address("239.1.1.1"), true));
}

}  // namespace culvert
