#include "inbound/http/codec.h"

#include <gtest/gtest.h>

namespace culvert::http {

TEST(HttpProxyRequest, ParsesConnect) {
  auto r = parse_proxy_request(as_bytes("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nXY"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_connect);
  EXPECT_EQ(r->destination.host, "example.com");
  EXPECT_EQ(r->destination.port, 443);
  EXPECT_EQ(r->head_size, 59u);
}

TEST(HttpProxyRequest, ParsesConnectToIpv6Literal) {
  auto r = parse_proxy_request(as_bytes("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->destination.kind, Destination::Kind::ipv6);
  EXPECT_EQ(r->destination.port, 8443);
}

TEST(HttpProxyRequest, RewritesAbsoluteFormToOriginForm) {
  auto r = parse_proxy_request(
      as_bytes("GET http://example.com/a/b?c=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\n"
               "Proxy-Authorization: x\r\nAccept: */*\r\n\r\n"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->is_connect);
  EXPECT_EQ(r->destination.port, 80);
  EXPECT_EQ(r->forward_head, "GET /a/b?c=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}

TEST(HttpProxyRequest, AbsoluteFormWithoutPathGetsSlash) {
  auto r = parse_proxy_request(as_bytes("GET http://example.com:8080 HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->destination.port, 8080);
  EXPECT_EQ(r->forward_head.substr(0, 16), "GET / HTTP/1.0\r\n");
}

TEST(HttpProxyRequest, IncompleteHeadAsksForMore) {
  EXPECT_EQ(parse_proxy_request(as_bytes("CONNECT a:1 HTTP/1.1\r\n")).error(), Errc::truncated);
  EXPECT_EQ(parse_proxy_request(as_bytes("GE")).error(), Errc::truncated);
}

TEST(HttpProxyRequest, OversizedHeadIsRefused) {
  std::string big = "GET http://a/ HTTP/1.1\r\nX: " + std::string(kMaxHead, 'a');
  EXPECT_EQ(parse_proxy_request(as_bytes(big)).error(), Errc::too_large);
}

TEST(HttpProxyRequest, MalformedRequestsAreRejected) {
  for (const char* bad :
       {"CONNECT example.com HTTP/1.1\r\n\r\n",        // no port
        "CONNECT example.com:99999 HTTP/1.1\r\n\r\n",  // port out of range
        "GET /relative HTTP/1.1\r\nHost: a\r\n\r\n",   // not a proxy request
        "GET https://a/ HTTP/1.1\r\n\r\n",             // TLS to origin is CONNECT's job
        "GET http://a/ HTTP/2.0\r\n\r\n", "GET\r\n\r\n", "GET http://a/ HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET http://user@a/ HTTP/1.1\r\n\r\n", "G(T http://a/ HTTP/1.1\r\n\r\n"}) {
    auto r = parse_proxy_request(as_bytes(bad));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), Errc::malformed) << bad;
  }
}

TEST(HttpProxyRequest, BinaryNoiseFailsEarly) {
  EXPECT_EQ(parse_proxy_request(Bytes{0x16, 0x03, 0x01, 0x00}).error(), Errc::malformed);
}

}  // namespace culvert::http
