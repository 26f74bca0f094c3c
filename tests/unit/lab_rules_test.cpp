#include <gtest/gtest.h>

#include "lab/blocklist.h"
#include "lab/classifier.h"
#include "lab/cleartext_proxy.h"
#include "lab/flow.h"
#include "lab/fully_encrypted.h"
#include "lab/tls_in_tls.h"

namespace culvert::lab {
namespace {

// Bytes that are not printable, with a chosen mix of 3-bit and 4-bit popcounts.
Bytes with_popcounts(int threes, int fours) {
  Bytes b;
  for (int i = 0; i < threes; ++i) b.push_back(0x07);
  for (int i = 0; i < fours; ++i) b.push_back(0x0f);
  return b;
}

}  // namespace

// Wu et al. 2023, Algorithm 1: each exemption at its boundary.
TEST(FullyEncrypted, Ex1BitsPerByteBoundaries) {
  EXPECT_EQ(classify_first_packet(with_popcounts(6, 4)).exemption, "Ex1");  // 3.4 exactly
  EXPECT_FALSE(classify_first_packet(with_popcounts(5, 5)).exempt);         // 3.5
  Bytes high(10, 0x1f);                                                     // 5 bits each
  EXPECT_EQ(classify_first_packet(high).exemption, "Ex1");
  Bytes just_under;  // 4.5 bits/byte: 0x1f (5) and 0x0f (4)
  for (int i = 0; i < 5; ++i) {
    just_under.push_back(0x1f);
    just_under.push_back(0x0f);
  }
  EXPECT_FALSE(classify_first_packet(just_under).exempt);
}

TEST(FullyEncrypted, Ex2FirstSixPrintable) {
  Bytes b = with_popcounts(0, 40);
  std::string six = "ABCDE~";  // printable, popcount ~3.5
  std::copy(six.begin(), six.end(), b.begin());
  EXPECT_EQ(classify_first_packet(b).exemption, "Ex2");
  b[5] = 0x0f;
  EXPECT_NE(classify_first_packet(b).exemption, "Ex2");
}

TEST(FullyEncrypted, Ex3MoreThanHalfPrintable) {
  Bytes b;
  for (int i = 0; i < 10; ++i) {
    b.push_back(0x0f);  // not printable
    b.push_back('6');   // 0x36: printable, 4 bits
  }
  EXPECT_FALSE(classify_first_packet(b).exempt);  // exactly half
  b.push_back('6');
  EXPECT_EQ(classify_first_packet(b).exemption, "Ex3");
}

TEST(FullyEncrypted, Ex4MoreThanTwentyContiguousPrintable) {
  Bytes b = with_popcounts(0, 60);
  for (int i = 10; i < 30; ++i) b[i] = '6';  // 20 contiguous
  EXPECT_FALSE(classify_first_packet(b).exempt);
  b[30] = '6';  // 21
  EXPECT_EQ(classify_first_packet(b).exemption, "Ex4");
}

TEST(FullyEncrypted, Ex5TlsAndHttpPrefixes) {
  Bytes tls = with_popcounts(0, 40);
  tls[0] = 0x16;
  tls[1] = 0x03;
  tls[2] = 0x09;
  EXPECT_EQ(classify_first_packet(tls).exemption, "Ex5");
  tls[2] = 0x0a;
  EXPECT_FALSE(classify_first_packet(tls).exempt);
  tls[0] = 0x17;
  tls[2] = 0x03;
  EXPECT_EQ(classify_first_packet(tls).exemption, "Ex5");
}

TEST(FullyEncrypted, RandomLookingPacketIsACandidate) {
  auto v = fully_encrypted_verdict(with_popcounts(0, 100));
  EXPECT_EQ(v.outcome, Outcome::block);
  EXPECT_NE(v.reason.find("26.3%"), std::string::npos);
  EXPECT_EQ(fully_encrypted_verdict(Bytes{0x8f}).outcome, Outcome::pass);  // one byte, §4.5
}

TEST(Blocklist, MatchesNamesAndTheirSubdomainsOnly) {
  auto list = Blocklist::parse("# comment\nExample.org\n\n  blocked.net  # trailing\n");
  EXPECT_EQ(list.match("example.org"), "example.org");
  EXPECT_EQ(list.match("www.EXAMPLE.org."), "example.org");
  EXPECT_EQ(list.match("notexample.org"), "");
  EXPECT_EQ(list.match("a.b.blocked.net"), "blocked.net");
  EXPECT_EQ(list.match("net"), "");
}

TEST(CleartextProxy, SeesSocksAndHttpProxyRequests) {
  EXPECT_EQ(cleartext_proxy_verdict(Bytes{5, 1, 0}).outcome, Outcome::flag);
  EXPECT_EQ(cleartext_proxy_verdict(Bytes{4, 1, 0, 80, 1, 2, 3, 4, 0}).outcome, Outcome::flag);
  EXPECT_EQ(cleartext_proxy_verdict(as_bytes("CONNECT a.b:443 HTTP/1.1\r\n\r\n")).outcome, Outcome::flag);
  EXPECT_EQ(cleartext_proxy_verdict(as_bytes("GET http://a.b/ HTTP/1.1\r\n\r\n")).outcome, Outcome::flag);
  EXPECT_EQ(cleartext_proxy_verdict(as_bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).outcome, Outcome::pass);
  EXPECT_EQ(http_host(as_bytes("GET / HTTP/1.1\r\nhost: www.a.b:8080\r\n\r\n")), "www.a.b");
  EXPECT_EQ(http_host(as_bytes("CONNECT x.y:443 HTTP/1.1\r\n\r\n")), "x.y");
}

namespace {

Bytes record(std::uint8_t type, std::size_t length) {
  Bytes r{type, 0x03, 0x03, static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length)};
  r.resize(5 + length, 0xaa);
  return r;
}

Flow outer_handshake() {
  return {{Direction::client_to_server, 0, record(0x16, 512)},
          {Direction::server_to_client, 1,
           [] {
             Bytes b = record(0x16, 90);
             auto more = record(0x17, 2000);
             b.insert(b.end(), more.begin(), more.end());
             return b;
           }()},
          {Direction::client_to_server, 2, record(0x17, 53)},
          {Direction::server_to_client, 3, record(0x17, 250)}};  // a session ticket
}

}  // namespace

TEST(TlsInTls, FlagsAnInnerHandshakeShape) {
  Flow f = outer_handshake();
  f.push_back({Direction::client_to_server, 5, record(0x17, 600)});   // inner ClientHello
  f.push_back({Direction::server_to_client, 6, record(0x17, 3000)});  // inner server flight
  f.push_back({Direction::client_to_server, 7, record(0x17, 80)});    // inner Finished
  f.push_back({Direction::server_to_client, 8, record(0x17, 500)});
  auto v = tls_in_tls_verdict(f);
  EXPECT_EQ(v.outcome, Outcome::flag) << v.reason;
}

TEST(TlsInTls, FlagsAnInnerHandshakeBehindAProxyHeaderSentAlone) {
  // trojan: its 68-byte request header leaves before the inner ClientHello reaches it, and the
  // outer server's 57-byte ticket lands in between.
  Flow f = outer_handshake();
  f.push_back({Direction::client_to_server, 5, record(0x17, 68 + 17)});
  f.push_back({Direction::server_to_client, 6, record(0x17, 57 + 17)});
  f.push_back({Direction::client_to_server, 7, record(0x17, 517 + 17)});
  f.push_back({Direction::server_to_client, 8, record(0x17, 3000)});
  f.push_back({Direction::client_to_server, 9, record(0x17, 80)});
  auto v = tls_in_tls_verdict(f);
  EXPECT_EQ(v.outcome, Outcome::flag) << v.reason;
  EXPECT_NE(v.reason.find("after a 68-byte header and a 57-byte ticket"), std::string::npos) << v.reason;
}

TEST(TlsInTls, PassesAnHttp2OpeningSentApartFromItsFirstRequest) {
  // The CDN transport's HTTP/2 client preface (70 bytes) can leave before its first request, and
  // the server's 9-byte SETTINGS frame land in between: not a proxy header and a ticket.
  Flow f = outer_handshake();
  f.push_back({Direction::client_to_server, 5, record(0x17, 70 + 17)});
  f.push_back({Direction::server_to_client, 6, record(0x17, 9 + 17)});
  f.push_back({Direction::client_to_server, 7, record(0x17, 2064 + 17)});
  f.push_back({Direction::server_to_client, 8, record(0x17, 1314 + 17)});
  f.push_back({Direction::client_to_server, 9, record(0x17, 4287 + 17)});
  auto v = tls_in_tls_verdict(f);
  EXPECT_EQ(v.outcome, Outcome::pass) << v.reason;
}

TEST(TlsInTls, PassesPlainRequestResponse) {
  Flow f = outer_handshake();
  f.push_back({Direction::client_to_server, 5, record(0x17, 120)});  // an HTTP request
  f.push_back({Direction::server_to_client, 6, record(0x17, 9000)});
  f.push_back({Direction::client_to_server, 7, record(0x17, 120)});
  auto v = tls_in_tls_verdict(f);
  EXPECT_EQ(v.outcome, Outcome::pass) << v.reason;
  auto plain = as_bytes("GET / HTTP/1.1\r\n\r\n");
  Flow http{{Direction::client_to_server, 0, Bytes(plain.begin(), plain.end())}};
  EXPECT_EQ(tls_in_tls_verdict(http).outcome, Outcome::pass);
}

TEST(Flow, TextFormRoundTripsAndRejectsGarbage) {
  Flow f{{Direction::client_to_server, 0, Bytes{1, 2, 255}}, {Direction::server_to_client, 17, Bytes{}}};
  auto text = format_flow(f);
  auto back = parse_flow("# recorded\n" + text);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].bytes, (Bytes{1, 2, 255}));
  EXPECT_EQ((*back)[1].time_ms, 17u);
  for (const char* bad : {"X 0 00\n", "C zero 00\n", "C 0 0g\n", "C 0 abc\n", "C 0\n"})
    EXPECT_FALSE(parse_flow(bad)) << bad;
}

TEST(Classifier, ReportsEveryRuleAsJson) {
  Flow f{{Direction::client_to_server, 0, with_popcounts(0, 100)}};
  auto c = classify(f, {});
  EXPECT_EQ(c.verdicts.size(), 5u);
  EXPECT_EQ(c.worst(), Outcome::block);
  auto json = c.to_json();
  EXPECT_NE(json.find("\"rule\":\"fully-encrypted\",\"outcome\":\"block\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"worst\":\"block\""), std::string::npos);
}

}  // namespace culvert::lab
