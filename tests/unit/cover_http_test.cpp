#include "server/cover_http.h"

#include <gtest/gtest.h>

namespace culvert {

TEST(CoverHttp, ServesTheHomePageWithNginxLikeHeaders) {
  auto r = cover_respond(as_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes.rfind("HTTP/1.1 200 OK\r\nServer: nginx\r\n", 0), 0u);
  EXPECT_NE(r->bytes.find("Ridgeline Notes"), std::string::npos);
  EXPECT_TRUE(r->keep_alive);
}

TEST(CoverHttp, HeadHasNoBodyAndUnknownPathsAre404) {
  auto head = cover_respond(as_bytes("HEAD /about.html HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->bytes.substr(head->bytes.size() - 4), "\r\n\r\n");
  auto missing = cover_respond(as_bytes("GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->bytes.rfind("HTTP/1.1 404 Not Found", 0), 0u);
}

TEST(CoverHttp, GarbageGets400AndClose) {
  for (const char* bad : {"\x16\x03\x01garbage", "hello\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
                          "GET nopath HTTP/1.1\r\nHost: x\r\n\r\n", "G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
                          "get / HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    auto r = cover_respond(as_bytes(bad));
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->bytes.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << bad;
    EXPECT_FALSE(r->keep_alive);
  }
}

TEST(CoverHttp, WaitsForAnIncompleteRequest) {
  EXPECT_FALSE(cover_respond(as_bytes("GET / HT")));
  EXPECT_FALSE(cover_respond(as_bytes("GET / HTTP/1.1\r\nHost: x\r\n")));
  EXPECT_FALSE(cover_respond(as_bytes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")));
}

TEST(CoverHttp, PostIsNotAllowedAndItsBodyIsConsumed) {
  std::string req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET";
  auto r = cover_respond(as_bytes(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes.rfind("HTTP/1.1 405 Not Allowed", 0), 0u);
  EXPECT_EQ(r->consumed, req.size() - 3);
}

TEST(CoverHttp, ConnectionCloseAndHttp10EndTheConnection) {
  EXPECT_FALSE(cover_respond(as_bytes("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))->keep_alive);
  EXPECT_FALSE(cover_respond(as_bytes("GET / HTTP/1.0\r\n\r\n"))->keep_alive);
}

TEST(CoverHttp, OversizedHeadIs400) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a');
  auto r = cover_respond(as_bytes(big));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bytes.rfind("HTTP/1.1 400", 0), 0u);
}

}  // namespace culvert
