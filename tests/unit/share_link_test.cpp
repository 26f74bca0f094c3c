#include "link/share_link.h"

#include <gtest/gtest.h>

namespace culvert {
namespace {

ShareLink sample() {
  ShareLink l;
  l.host = "203.0.113.7";
  l.port = 8443;
  l.sni = "photos.example.net";
  PublicKey pin{};
  pin.fill(0xab);
  l.transport = TlsLink{pin};
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
  EXPECT_EQ(std::get<TlsLink>(back->transport).pin, std::get<TlsLink>(link.transport).pin);
  EXPECT_EQ(back->credential.key_id, link.credential.key_id);
  EXPECT_EQ(back->credential.secret, link.credential.secret);
  EXPECT_EQ(back->label, link.label);
}

// `key=value` removed from a link's text.
std::string without(std::string text, const std::string& key) {
  auto at = text.find("&" + key + "=");
  if (at == std::string::npos) return text;
  auto end = text.find_first_of("&#", at + 1);
  return text.erase(at, end == std::string::npos ? std::string::npos : end - at);
}

TEST(ShareLink, BorrowLinkCarriesTheServerKeyAndTheBorrowedName) {
  auto link = sample();
  PublicKey key{};
  key.fill(0x5c);
  link.transport = BorrowLink{key};
  std::string text = format_share_link(link);
  EXPECT_NE(text.find("tr=borrow"), std::string::npos);
  auto back = parse_share_link(text);
  ASSERT_TRUE(back) << text;
  EXPECT_EQ(back->transport_name(), "borrow");
  EXPECT_EQ(back->server_key(), key);
  EXPECT_EQ(back->sni, "photos.example.net");
  // Without the key or the borrowed name the transport cannot work: refused at parse time.
  std::string why;
  EXPECT_FALSE(parse_share_link(without(text, "pk"), &why));
  EXPECT_NE(why.find("pk="), std::string::npos);
  EXPECT_FALSE(parse_share_link(without(text, "sni")));
}

TEST(ShareLink, CdnLinkCarriesKeyPathAndUploadMode) {
  auto link = sample();
  link.host = "edge.cdn.example";
  link.port = 443;
  PublicKey key{};
  key.fill(0x3e);
  link.transport = CdnLink{key, "/k9Xq3Zp/api", "stream"};
  std::string text = format_share_link(link);
  EXPECT_NE(text.find("tr=cdn"), std::string::npos);
  EXPECT_NE(text.find("path=%2Fk9Xq3Zp%2Fapi"), std::string::npos);
  auto back = parse_share_link(text);
  ASSERT_TRUE(back) << text;
  const auto& cdn = std::get<CdnLink>(back->transport);
  EXPECT_EQ(cdn.server_key, key);
  EXPECT_EQ(cdn.path, "/k9Xq3Zp/api");
  EXPECT_EQ(cdn.upload, "stream");
  EXPECT_EQ(back->host, "edge.cdn.example");
  EXPECT_EQ(back->sni, "photos.example.net");
  // Each part it needs is checked; the upload mode defaults to packet.
  std::string why;
  EXPECT_FALSE(parse_share_link(without(text, "path"), &why));
  EXPECT_NE(why.find("path="), std::string::npos);
  EXPECT_FALSE(parse_share_link(without(text, "pk")));
  EXPECT_FALSE(parse_share_link(without(text, "sni")));
  EXPECT_EQ(std::get<CdnLink>(parse_share_link(without(text, "up"))->transport).upload, "packet");
  std::string bad_mode = text;
  bad_mode.replace(bad_mode.find("up=stream"), 9, "up=turbo");
  EXPECT_FALSE(parse_share_link(bad_mode));
  std::string bad_path = text;
  bad_path.replace(bad_path.find("path=%2F"), 8, "path=k");
  EXPECT_FALSE(parse_share_link(bad_path));
}

TEST(ShareLink, RoundTripsIpv6HostWithoutOptionalFields) {
  auto link = sample();
  link.host = "2001:db8::5";
  link.sni.clear();
  link.transport = TlsLink{};
  link.label.clear();
  std::string text = format_share_link(link);
  EXPECT_NE(text.find("@[2001:db8::5]:8443"), std::string::npos);
  auto back = parse_share_link(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->host, "2001:db8::5");
  EXPECT_FALSE(std::get<TlsLink>(back->transport).pin);
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
