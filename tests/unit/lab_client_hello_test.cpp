#include "lab/client_hello.h"

#include <gtest/gtest.h>

#include <set>

#include "lab/reference_fingerprints.h"

namespace culvert::lab {
namespace {

struct HelloSpec {
  std::vector<std::uint16_t> ciphers, extensions, groups, sigs;
  std::vector<std::uint8_t> point_formats{0};
  std::string sni = "example.com";
  std::string alpn = "h2";
};

// Builds a ClientHello record whose extensions appear in `extensions` order, with real contents
// for the ones the fingerprints read and empty bodies for the rest.
Bytes build(const HelloSpec& s) {
  Bytes exts;
  Writer e(exts);
  for (auto type : s.extensions) {
    Bytes body;
    Writer b(body);
    switch (type) {
      case 0x0000:
        b.u16(static_cast<std::uint16_t>(s.sni.size() + 3));
        b.u8(0);
        b.u16(static_cast<std::uint16_t>(s.sni.size()));
        b.text(s.sni);
        break;
      case 0x0010:
        b.u16(static_cast<std::uint16_t>(s.alpn.size() + 1));
        b.u8(static_cast<std::uint8_t>(s.alpn.size()));
        b.text(s.alpn);
        break;
      case 0x000a:
        b.u16(static_cast<std::uint16_t>(s.groups.size() * 2));
        for (auto g : s.groups) b.u16(g);
        break;
      case 0x000b:
        b.u8(static_cast<std::uint8_t>(s.point_formats.size()));
        for (auto f : s.point_formats) b.u8(f);
        break;
      case 0x000d:
        b.u16(static_cast<std::uint16_t>(s.sigs.size() * 2));
        for (auto g : s.sigs) b.u16(g);
        break;
      case 0x002b:
        b.u8(2);
        b.u16(0x0304);
        break;
      default:
        break;
    }
    e.u16(type);
    e.u16(static_cast<std::uint16_t>(body.size()));
    e.bytes(body);
  }
  Bytes hello;
  Writer h(hello);
  h.u16(0x0303);
  h.bytes(Bytes(32, 7));
  h.u8(0);
  h.u16(static_cast<std::uint16_t>(s.ciphers.size() * 2));
  for (auto c : s.ciphers) h.u16(c);
  h.u8(1);
  h.u8(0);
  h.u16(static_cast<std::uint16_t>(exts.size()));
  h.bytes(exts);
  Bytes record;
  Writer r(record);
  r.u8(0x16);
  r.u16(0x0301);
  r.u16(static_cast<std::uint16_t>(hello.size() + 4));
  r.u8(1);
  r.u8(0);
  r.u16(static_cast<std::uint16_t>(hello.size()));
  r.bytes(hello);
  return record;
}

}  // namespace

// The worked example of FoxIO's technical_details/JA4.md.
TEST(Ja4, MatchesTheSpecificationsWorkedExample) {
  HelloSpec s;
  s.ciphers = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
               0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
  s.extensions = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
                  0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015};
  s.sigs = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
  auto hello = parse_client_hello(build(s));
  ASSERT_TRUE(hello);
  EXPECT_EQ(ja4(*hello), "t13d1516h2_8daaf6152771_e5627efa2ab1");
  EXPECT_EQ(ja4_raw(*hello),
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,"
            "000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601");
}

TEST(Ja4, GreaseIsIgnoredAndNoSniIsI) {
  HelloSpec s;
  s.ciphers = {0x0a0a, 0x1301};
  s.extensions = {0x1a1a, 0x002b, 0x000d, 0x0010};
  s.sigs = {0x0403};
  s.alpn = "http/1.1";
  auto hello = parse_client_hello(build(s));
  ASSERT_TRUE(hello);
  EXPECT_EQ(ja4(*hello).substr(0, 10), "t13i0103h1");
}

// A Chrome 143 hello as published with its JA3 text and hash: the JA3 string and MD5 follow.
TEST(Ja3, MatchesAPublishedChromeFingerprint) {
  HelloSpec s;
  s.ciphers = {4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157, 47, 53};
  s.extensions = {45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27};
  s.groups = {4588, 29, 23, 24};
  s.sigs = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
  auto hello = parse_client_hello(build(s));
  ASSERT_TRUE(hello);
  EXPECT_EQ(ja3_string(*hello),
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
            "45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0");
  EXPECT_EQ(ja3_hash(*hello), "98487aa16281980e7d1120d399efb6a4");
  EXPECT_EQ(ja4(*hello), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
}

TEST(ClientHello, TruncatedAndForeignInputAreReported) {
  HelloSpec s;
  s.ciphers = {0x1301};
  s.extensions = {0x0000};
  Bytes full = build(s);
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto r = parse_client_hello(ByteSpan(full).first(n));
    ASSERT_FALSE(r) << n;
  }
  EXPECT_EQ(parse_client_hello(as_bytes("GET / HTTP/1.1\r\n\r\n")).error(), Errc::malformed);
}

TEST(ReferenceFingerprints, CapturedBrowsersParseAndChromiumPermutesExtensions) {
  const auto& refs = reference_fingerprints();
  ASSERT_GE(refs.size(), 6u);
  std::set<std::string> chromium_ja4, chromium_ja3, firefox_ja4, chromium_ip_ja4;
  for (const auto& r : refs) {
    if (r.name.find("-ip-") != std::string::npos) {
      chromium_ip_ja4.insert(r.ja4);  // visiting an IP address: no server_name
    } else if (r.name.rfind("chromium", 0) == 0) {
      chromium_ja4.insert(r.ja4);
      chromium_ja3.insert(r.ja3);
    } else if (r.name.rfind("firefox", 0) == 0) {
      firefox_ja4.insert(r.ja4);
    }
  }
  // JA4 sorts what Chromium shuffles, so one JA4 covers every Chromium connection; JA3 does not.
  EXPECT_EQ(chromium_ja4.size(), 1u);
  EXPECT_GT(chromium_ja3.size(), 1u);
  EXPECT_EQ(firefox_ja4.size(), 1u);
  EXPECT_NE(*chromium_ja4.begin(), *firefox_ja4.begin());
  EXPECT_EQ(chromium_ja4.begin()->substr(0, 4), "t13d");
  // Without SNI the same hello has one extension fewer; the hashed parts are the same.
  ASSERT_EQ(chromium_ip_ja4.size(), 1u);
  EXPECT_EQ(chromium_ip_ja4.begin()->substr(0, 4), "t13i");
  EXPECT_EQ(chromium_ip_ja4.begin()->substr(10), chromium_ja4.begin()->substr(10));
}

}  // namespace culvert::lab
