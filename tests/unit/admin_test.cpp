#include <gtest/gtest.h>

#include "admin/admin_server.h"
#include "admin/http_request.h"
#include "admin/qr.h"
#include "admin/users.h"
#include "store/memory_user_store.h"

namespace culvert::admin {
namespace {

Result<HttpRequest> parse(std::string_view text) { return parse_http_request(as_bytes(text)); }

TEST(AdminHttp, ParsesMethodPathQueryAndToken) {
  auto r = parse(
      "POST /api/users/a%20b/notes?text=two+phones%21&x HTTP/1.1\r\nHost: h\r\nAuthorization:  Bearer t0k \r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->path, "/api/users/a b/notes");
  EXPECT_EQ(r->query.at("text"), "two phones!");
  EXPECT_EQ(r->query.at("x"), "");
  EXPECT_EQ(r->authorization, "Bearer t0k");
}

TEST(AdminHttp, WaitsForTheWholeRequestAndItsBody) {
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\n").error(), Errc::truncated);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc").error(), Errc::truncated);
  auto r = parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcEXTRA");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size, std::string_view("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").size());
}

TEST(AdminHttp, RefusesWhatNoClientSends) {
  for (auto bad :
       {"GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n", "GET /metrics\r\n\r\n", "G@T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET /%zz HTTP/1.1\r\n\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"})
    EXPECT_EQ(parse(bad).error(), Errc::malformed) << bad;
  EXPECT_EQ(parse(std::string(kMaxHead + 1, 'a')).error(), Errc::too_large);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n").error(), Errc::too_large);
}

TEST(AdminApi, EveryRequestNeedsTheToken) {
  asio::io_context io;
  AdminServer admin(io, ServerConfig{}, std::make_unique<MemoryUserStore>(),
                    AdminOptions{"127.0.0.1:0", "correct-horse-battery-staple", [] { return "m 1\n"; }});
  for (auto header : {"", "Authorization: Bearer wrong\r\n", "Authorization: Bearer correct-horse-battery-stapl\r\n",
                      "Authorization: correct-horse-battery-staple\r\n"}) {
    auto r = parse(std::string("GET /metrics HTTP/1.1\r\n") + header + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_TRUE(admin.respond(*r).starts_with("HTTP/1.1 401 ")) << header;
  }
  auto ok = parse("GET /metrics HTTP/1.1\r\nAuthorization: Bearer correct-horse-battery-staple\r\n\r\n");
  auto response = admin.respond(*ok);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 "));
  EXPECT_TRUE(response.ends_with("\r\n\r\nm 1\n"));
}

TEST(AdminUsers, ParsesQuotasExpiryAndDurations) {
  EXPECT_EQ(parse_bytes("unlimited"), 0u);
  EXPECT_EQ(parse_bytes("1500"), 1500u);
  EXPECT_EQ(parse_bytes("500M"), 500u << 20);
  EXPECT_EQ(parse_bytes("10GiB"), 10ull << 30);
  EXPECT_EQ(parse_bytes("1.5T"), 3ull << 39);
  EXPECT_FALSE(parse_bytes("ten"));
  EXPECT_FALSE(parse_bytes("5X"));
  EXPECT_FALSE(parse_bytes("99999999T"));
  std::int64_t now = 1795910400;  // 2026-11-29T00:00:00Z
  EXPECT_EQ(parse_expiry("never", now), 0);
  EXPECT_EQ(parse_expiry("+30d", now), now + 30 * 86400);
  EXPECT_EQ(parse_expiry("2026-12-31", now), 1798761600);  // through that day: 2027-01-01T00:00Z
  EXPECT_FALSE(parse_expiry("2026-13-01", now));
  EXPECT_FALSE(parse_expiry("soon", now));
  EXPECT_EQ(parse_duration("7d"), 7 * 86400);
  EXPECT_EQ(parse_duration("90"), 90);
  EXPECT_FALSE(parse_duration("-1d"));
  EXPECT_FALSE(parse_duration(""));
}

TEST(AdminUsers, JsonCarriesNoSecretUnlessInTheLink) {
  MemoryUserStore store;
  auto u = store.add("kim").value();
  auto json = user_json(u, 1795910400);
  EXPECT_NE(json.find("\"name\":\"kim\""), std::string::npos);
  EXPECT_NE(json.find("\"status\":\"active\""), std::string::npos);
  EXPECT_EQ(json.find("link"), std::string::npos);
  EXPECT_EQ(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
}

TEST(AdminQr, PngIsAValidImage) {
  auto png = render_qr_png("culvert://example");
  ASSERT_GT(png.size(), 100u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_TRUE(render_qr_png("x", 0).empty());
}

}  // namespace
}  // namespace culvert::admin
