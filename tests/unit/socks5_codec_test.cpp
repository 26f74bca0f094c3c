#include "inbound/socks5/codec.h"

#include <gtest/gtest.h>

namespace culvert::socks5 {

TEST(Socks5Greeting, ParsesMethods) {
  Bytes in{5, 2, 0x00, 0x02};
  auto g = parse_greeting(in);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->methods, (Bytes{0x00, 0x02}));
  EXPECT_EQ(g->size, 4u);
}

TEST(Socks5Greeting, TruncatedAsksForMore) {
  EXPECT_EQ(parse_greeting(Bytes{}).error(), Errc::truncated);
  EXPECT_EQ(parse_greeting(Bytes{5}).error(), Errc::truncated);
  EXPECT_EQ(parse_greeting(Bytes{5, 3, 0}).error(), Errc::truncated);
}

TEST(Socks5Greeting, RejectsOtherVersionsAndEmptyMethodList) {
  EXPECT_EQ(parse_greeting(Bytes{4, 1, 0}).error(), Errc::malformed);
  EXPECT_EQ(parse_greeting(Bytes{5, 0}).error(), Errc::malformed);
}

TEST(Socks5Request, ParsesDomainConnect) {
  Bytes in{5, 1, 0, 3, 11};
  for (char c : std::string("example.com")) in.push_back(static_cast<std::uint8_t>(c));
  in.push_back(0x01);
  in.push_back(0xbb);
  auto r = parse_request(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, Command::connect);
  EXPECT_EQ(r->destination.kind, Destination::Kind::domain);
  EXPECT_EQ(r->destination.host, "example.com");
  EXPECT_EQ(r->destination.port, 443);
  EXPECT_EQ(r->size, in.size());
}

TEST(Socks5Request, ParsesIpv4AndIpv6) {
  auto v4 = parse_request(Bytes{5, 1, 0, 1, 10, 0, 0, 1, 0, 80});
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->destination.host, "10.0.0.1");
  Bytes v6in{5, 1, 0, 4};
  for (int i = 0; i < 15; ++i) v6in.push_back(0);
  v6in.push_back(1);
  v6in.push_back(0);
  v6in.push_back(22);
  auto v6 = parse_request(v6in);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->destination.host, "::1");
  EXPECT_EQ(v6->destination.port, 22);
}

TEST(Socks5Request, IpLiteralSentAsANameBecomesAnAddress) {
  Bytes in{5, 1, 0, 3, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1', 0, 80};
  auto r = parse_request(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->destination.kind, Destination::Kind::ipv4);
  EXPECT_EQ(r->destination.host, "127.0.0.1");
}

TEST(Socks5Request, TruncatedAtEveryLength) {
  Bytes full{5, 1, 0, 1, 10, 0, 0, 1, 0, 80};
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto r = parse_request(ByteSpan(full).first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error(), Errc::truncated) << n;
  }
}

TEST(Socks5Request, BadAddressTypeAndCommandGetTheRfcReplies) {
  Bytes bad_atyp{5, 1, 0, 9, 1, 2, 3, 4, 0, 80};
  EXPECT_EQ(parse_request(bad_atyp).error(), Errc::malformed);
  EXPECT_EQ(reply_for_error(bad_atyp), Reply::address_type_not_supported);
  Bytes bad_cmd{5, 9, 0, 1, 1, 2, 3, 4, 0, 80};
  EXPECT_EQ(parse_request(bad_cmd).error(), Errc::unsupported);
  EXPECT_EQ(reply_for_error(bad_cmd), Reply::command_not_supported);
}

TEST(Socks5Request, RejectsNonZeroReservedAndEmptyDomain) {
  EXPECT_EQ(parse_request(Bytes{5, 1, 1, 1, 1, 2, 3, 4, 0, 80}).error(), Errc::malformed);
  EXPECT_EQ(parse_request(Bytes{5, 1, 0, 3, 0, 0, 80}).error(), Errc::malformed);
}

TEST(Socks5Reply, EncodesVersionCodeAndZeroBind) {
  EXPECT_EQ(encode_reply(Reply::succeeded), (Bytes{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(encode_method_choice(kMethodNoneAcceptable), (Bytes{5, 0xff}));
}

TEST(Socks5Udp, ParsesTheHeaderBeforeTheDatagram) {
  Bytes d{0, 0, 0, 1, 192, 0, 2, 9, 0, 53, 'h', 'i'};
  auto h = parse_udp_header(d);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->fragment, 0);
  EXPECT_EQ(h->destination.host, "192.0.2.9");
  EXPECT_EQ(h->destination.port, 53);
  EXPECT_EQ(h->size, 10u);
  Bytes named{0, 0, 2, 3, 3, 'a', '.', 'b', 1, 0};
  auto n = parse_udp_header(named);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->fragment, 2);  // the session drops fragments; the codec reports them
  EXPECT_EQ(n->destination.host, "a.b");
}

TEST(Socks5Udp, RefusesBadHeaders) {
  EXPECT_FALSE(parse_udp_header(Bytes{0, 0, 0}));
  EXPECT_FALSE(parse_udp_header(Bytes{0, 1, 0, 1, 1, 2, 3, 4, 0, 1}));  // reserved field not zero
  EXPECT_FALSE(parse_udp_header(Bytes{0, 0, 0, 9, 1, 2, 3, 4, 0, 1}));  // unknown address type
  EXPECT_FALSE(parse_udp_header(Bytes{0, 0, 0, 1, 1, 2, 3}));           // cut address
}

TEST(Socks5Udp, EncodesTheSourceOfARelayedDatagram) {
  auto header = encode_udp_header(make_destination("2001:db8::1", 443).value());
  ASSERT_EQ(header.size(), 3u + 1 + 16 + 2);
  EXPECT_EQ(header[3], 4);
  auto parsed = parse_udp_header(header);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->destination.host, "2001:db8::1");
  auto reply = encode_reply(Reply::succeeded, make_destination("127.0.0.1", 4000).value());
  EXPECT_EQ(reply, (Bytes{5, 0, 0, 1, 127, 0, 0, 1, 0x0f, 0xa0}));
}

}  // namespace culvert::socks5
