#include "link/share_link.h"

#include <gtest/gtest.h>

namespace culvert {
namespace {

ShareLink sample() {
  ShareLink l;
  l.host = "203.0.113.7";
  l.port = 8443;
  l.sni = "photos.example.net";
  std::array<std::uint8_t, 32> pin{};
  pin.fill(0xab);
  l.pin = pin;
  for (int i = 0; i < 8; ++i) l.credential.key_id[i] = static_cast<std::uint8_t>(i);
  for (int i = 0; i < 32; ++i) l.credential.secret[i] = static_cast<std::uint8_t>(100 + i);
  l.label = "alice @ home/1";
  return l;
}

}  // namespace

TEST(ShareLink, RoundTrips) {
  auto link = sample();
  std::string text = format_share_link(link);
  EXPECT_EQ(text.rfind("culvert://", 0), 0u);
  EXPECT_EQ(text.find(' '), std::string::npos);
  auto back = parse_share_link(text);
  ASSERT_TRUE(back) << text;
  EXPECT_EQ(back->host, link.host);
  EXPECT_EQ(back->port, link.port);
  EXPECT_EQ(back->sni, link.sni);
  EXPECT_EQ(back->pin, link.pin);
  EXPECT_EQ(back->credential.key_id, link.credential.key_id);
  EXPECT_EQ(back->credential.secret, link.credential.secret);
  EXPECT_EQ(back->label, link.label);
}

TEST(ShareLink, BorrowLinkCarriesTheServerKeyAndTheBorrowedName) {
  auto link = sample();
  link.transport = "borrow";
  link.pin.reset();
  std::array<std::uint8_t, 32> key{};
  key.fill(0x5c);
  link.server_key = key;
  std::string text = format_share_link(link);
  EXPECT_NE(text.find("tr=borrow"), std::string::npos);
  auto back = parse_share_link(text);
  ASSERT_TRUE(back) << text;
  EXPECT_EQ(back->transport, "borrow");
  EXPECT_EQ(back->server_key, link.server_key);
  EXPECT_EQ(back->sni, "photos.example.net");
  // Without the key or the borrowed name the transport cannot work: refused at parse time.
  link.server_key.reset();
  EXPECT_FALSE(parse_share_link(format_share_link(link)));
  link.server_key = key;
  link.sni.clear();
  EXPECT_FALSE(parse_share_link(format_share_link(link)));
}

TEST(ShareLink, RoundTripsIpv6HostWithoutOptionalFields) {
  auto link = sample();
  link.host = "2001:db8::5";
  link.sni.clear();
  link.pin.reset();
  link.label.clear();
  std::string text = format_share_link(link);
  EXPECT_NE(text.find("@[2001:db8::5]:8443"), std::string::npos);
  auto back = parse_share_link(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->host, "2001:db8::5");
  EXPECT_FALSE(back->pin);
  EXPECT_TRUE(back->sni.empty());
}

TEST(ShareLink, IgnoresUnknownQueryKeys) {
  std::string text = format_share_link(sample());
  text.insert(text.find('#'), "&future=1");
  EXPECT_TRUE(parse_share_link(text));
}

TEST(ShareLink, RejectsMalformedLinks) {
  std::string good = format_share_link(sample());
  std::vector<std::string> bad = {
      "",
      "http://x",
      "culvert://",
      "culvert://AAAA@1.2.3.4:443?tr=tls",                     // credential too short
      good.substr(0, good.find('?')),                          // no transport
      std::string(good).replace(good.find(":8443"), 5, ":0"),  // port 0
      std::string(good).replace(good.find(":8443"), 5, ":70000"),
      std::string(good).replace(good.find(":8443"), 5, ":"),
      std::string(good).replace(good.find("pin="), 4, "pin=!"),  // bad base64
      std::string(good).replace(good.find("#"), 1, "#%zz"),      // bad percent-encoding
      std::string(good).replace(good.find("@"), 1, "@exa mple"),
      "culvert://" + std::string(3000, 'A'),
  };
  for (const auto& text : bad) EXPECT_FALSE(parse_share_link(text)) << text;
}

TEST(ShareLink, UnknownTransportIsUnsupported) {
  std::string text = format_share_link(sample());
  text.replace(text.find("tr=tls"), 6, "tr=xyz");
  EXPECT_EQ(parse_share_link(text).error(), Errc::unsupported);
}

TEST(PercentEncoding, DecodeRejectsTruncatedEscapes) {
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_EQ(percent_decode("a%20b"), "a b");
}

}  // namespace culvert
