// The cover site's pure parts: nginx's request parsers, URI and host rules, and the answers built
// from them. Byte-for-byte equality with a real nginx is shown by test_probe_parity.py; these
// tests pin the rules one situation at a time.
#include "cover/request_parser.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "cover/pages.h"
#include "cover/response.h"

namespace culvert::cover {
namespace {

ParseResult parse_line(std::string_view text, RequestLineParser& p, std::size_t& pos) {
  pos = 0;
  return p.parse(reinterpret_cast<const std::uint8_t*>(text.data()), pos, text.size());
}

ParseResult parse_line(std::string_view text) {
  RequestLineParser p;
  std::size_t pos = 0;
  return parse_line(text, p, pos);
}

TEST(CoverRequestLine, OrdinaryRequestParsesWithMethodVersionAndUri) {
  RequestLineParser p;
  std::size_t pos = 0;
  std::string_view text = "GET /index.html?x=1 HTTP/1.1\r\nHost: a\r\n";
  ASSERT_EQ(parse_line(text, p, pos), ParseResult::ok);
  EXPECT_EQ(p.method, Method::get);
  EXPECT_EQ(p.http_version(), 1001);
  EXPECT_EQ(text.substr(p.uri_start, p.uri_end - p.uri_start), "/index.html?x=1");
  EXPECT_EQ(text.substr(p.args_start, p.uri_end - p.args_start), "x=1");
  EXPECT_EQ(pos, text.find("Host"));
}

TEST(CoverRequestLine, FirstByteDecidesAnInvalidMethod) {
  // nginx answers 400 as soon as a byte cannot belong to a method: one byte can be enough.
  EXPECT_EQ(parse_line("g"), ParseResult::invalid_method);
  EXPECT_EQ(parse_line("\x16"), ParseResult::invalid_method);
  EXPECT_EQ(parse_line("G"), ParseResult::again);
  EXPECT_EQ(parse_line("\r\n\r\nGE"), ParseResult::again);  // empty lines first are skipped
  EXPECT_EQ(parse_line("GET\t/"), ParseResult::invalid_method);
}

TEST(CoverRequestLine, VersionsAndHttp09) {
  EXPECT_EQ(parse_line("GET / HTTP/2.0\r\n"), ParseResult::invalid_version);  // 505
  EXPECT_EQ(parse_line("GET / HTTP/1.100\r\n"), ParseResult::ok);             // nginx allows three minor digits
  EXPECT_EQ(parse_line("GET / HTTP/1.1000\r\n"), ParseResult::invalid_request);
  EXPECT_EQ(parse_line("GET / HTTX\r\n"), ParseResult::invalid_request);
  RequestLineParser p;
  std::size_t pos = 0;
  EXPECT_EQ(parse_line("GET /\r\n", p, pos), ParseResult::ok);
  EXPECT_EQ(p.http_version(), 9);
  EXPECT_EQ(parse_line("POST /\r\n"), ParseResult::invalid_09_method);
  EXPECT_EQ(parse_line("EHLO x\r\n"), ParseResult::invalid_request);  // "x" is no URI
}

TEST(CoverRequestLine, AbsoluteUriAndAsterisk) {
  RequestLineParser p;
  std::size_t pos = 0;
  std::string_view text = "GET http://Example.com:8080/a HTTP/1.1\r\n";
  ASSERT_EQ(parse_line(text, p, pos), ParseResult::ok);
  EXPECT_EQ(text.substr(p.host_start, p.host_end - p.host_start), "Example.com");
  EXPECT_EQ(text.substr(p.uri_start, p.uri_end - p.uri_start), "/a");
  EXPECT_EQ(parse_line("OPTIONS * HTTP/1.1\r\n"), ParseResult::invalid_request);
  EXPECT_EQ(parse_line("GET /a\x01 HTTP/1.1\r\n"), ParseResult::invalid_request);
}

TEST(CoverRequestLine, ByteByByteEqualsWhole) {
  std::string_view text = "HEAD /about.html HTTP/1.0\r\n";
  RequestLineParser p;
  std::size_t pos = 0;
  ParseResult r = ParseResult::again;
  for (std::size_t last = 1; last <= text.size() && r == ParseResult::again; ++last)
    r = p.parse(reinterpret_cast<const std::uint8_t*>(text.data()), pos, last);
  EXPECT_EQ(r, ParseResult::ok);
  EXPECT_EQ(p.method, Method::head);
  EXPECT_EQ(p.http_version(), 1000);
  EXPECT_EQ(pos, text.size());
}

TEST(CoverHeaderLine, ValidInvalidAndEnd) {
  auto parse = [](std::string_view text, HeaderLineParser& h) {
    std::size_t pos = 0;
    return h.parse(reinterpret_cast<const std::uint8_t*>(text.data()), pos, text.size());
  };
  HeaderLineParser h;
  std::string_view ok = "Accept-Encoding:  gzip \r\n";
  ASSERT_EQ(parse(ok, h), ParseResult::ok);
  EXPECT_FALSE(h.invalid_header);
  EXPECT_EQ(ok.substr(h.value_start, h.value_end - h.value_start), "gzip");
  HeaderLineParser u;
  EXPECT_EQ(parse("X_Forwarded: 1\r\n", u), ParseResult::ok);
  EXPECT_TRUE(u.invalid_header);  // underscores: ignored, not refused
  HeaderLineParser e;
  EXPECT_EQ(parse("\r\n", e), ParseResult::header_done);
  HeaderLineParser c;
  EXPECT_EQ(parse(":x\r\n", c), ParseResult::invalid_header);
  HeaderLineParser z;
  EXPECT_EQ(parse(std::string_view("A: b\0c\r\n", 8), z), ParseResult::invalid_header);
  HeaderLineParser s;
  EXPECT_EQ(parse("A b: c\r\n", s), ParseResult::invalid_header);
}

TEST(CoverUri, NormalizationFollowsNginx) {
  std::string out;
  EXPECT_TRUE(normalize_uri("/a/../b", out));
  EXPECT_EQ(out, "/b");
  EXPECT_TRUE(normalize_uri("//a///b", out));
  EXPECT_EQ(out, "/a/b");
  EXPECT_TRUE(normalize_uri("/a/./b", out));
  EXPECT_EQ(out, "/a/b");
  EXPECT_TRUE(normalize_uri("/%41b?c", out));
  EXPECT_EQ(out, "/Ab");
  EXPECT_FALSE(normalize_uri("/../x", out));
  EXPECT_FALSE(normalize_uri("/%00", out));
  EXPECT_FALSE(normalize_uri("/%4", out));
  EXPECT_FALSE(normalize_uri("/%zz", out));
}

TEST(CoverHost, ValidationFollowsNginx) {
  std::string out;
  EXPECT_TRUE(validate_host("Example.COM.", out));
  EXPECT_EQ(out, "example.com");
  EXPECT_TRUE(validate_host("[::1]:8080", out));
  EXPECT_EQ(out, "[::1]");
  EXPECT_FALSE(validate_host("a..b", out));
  EXPECT_FALSE(validate_host("a/b", out));
  EXPECT_FALSE(validate_host("", out));
  EXPECT_FALSE(validate_host(":80", out));
}

RequestFacts get(std::string uri) {
  RequestFacts f;
  f.uri = std::move(uri);
  return f;
}

TEST(CoverResponse, PlainHttpOnTheTlsPortIsNginxPage) {
  auto r = special_response(497, get("/"));
  auto bytes = serialize_http1(r, 1001, false, "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(bytes,
            "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
            "Content-Type: text/html\r\nContent-Length: 255\r\nConnection: close\r\n\r\n"
            "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n"
            "<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port"
            "</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n");
  // HTTP/0.9 gets the page alone.
  EXPECT_TRUE(serialize_http1(r, 9, false, "x").starts_with("<html>"));
}

TEST(CoverResponse, ChromeGetsThePaddedErrorPage) {
  auto plain = special_response(404, get("/x"));
  auto f = get("/x");
  f.chrome = true;
  auto padded = special_response(404, f);
  EXPECT_EQ(plain.content_length, 153);
  EXPECT_EQ(padded.content_length, 153 + 6 * 67);  // 555, as nginx sends it
}

TEST(CoverResponse, StaticFilesMethodsAndMissingPaths) {
  auto index = static_response(get("/"));
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, find_cover_page("/index.html")->body);
  EXPECT_EQ(index.headers.front().first, "ETag");
  EXPECT_EQ(index.headers.back(), (std::pair<std::string, std::string>{"Accept-Ranges", "bytes"}));
  EXPECT_EQ(static_response(get("/nope")).status, 404);
  EXPECT_EQ(static_response(get("/index.html/")).status, 404);
  auto post = get("/");
  post.method = Method::post;
  EXPECT_EQ(static_response(post).status, 405);
  auto put = get("/");
  put.method = Method::put;
  EXPECT_EQ(static_response(put).status, 403);  // directory index forbidden
  put.uri = "/about.html";
  EXPECT_EQ(static_response(put).status, 405);
}

TEST(CoverResponse, ConditionalAndRangeRequests) {
  auto f = get("/index.html");
  f.if_none_match = "\"" + std::string("68ee05f8") + "-5be\"";
  EXPECT_EQ(static_response(f).status, 304);
  auto m = get("/index.html");
  m.if_modified_since = http_date(cover_modified_time());
  EXPECT_EQ(static_response(m).status, 304);
  auto r = get("/index.html");
  r.range = "bytes=0-99";
  auto partial = static_response(r);
  EXPECT_EQ(partial.status, 206);
  EXPECT_EQ(partial.content_length, 100);
  EXPECT_EQ(partial.headers.back().second, "bytes 0-99/1470");
  r.range = "bytes=5000-";
  EXPECT_EQ(static_response(r).status, 416);
}

TEST(CoverResponse, GzipIsNginxsFramingAndInflatesToThePage) {
  auto f = get("/");
  f.accept_encoding = "gzip, deflate, br";
  auto r = static_response(f);
  ASSERT_TRUE(r.chunked);
  EXPECT_EQ(r.content_length, -1);
  EXPECT_EQ(r.headers.front().second.rfind("W/\"", 0), 0u);  // a weak ETag
  EXPECT_EQ(r.headers.back().first, "Content-Encoding");
  // gzip header as zlib writes it at level 1: no name, no mtime, XFL 4 (fastest), OS 3 (Unix).
  ASSERT_GT(r.body.size(), 10u);
  EXPECT_EQ(r.body.substr(0, 10), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03", 10));
  z_stream z{};
  inflateInit2(&z, 16 + 15);
  std::string out(4096, '\0');
  z.next_in = reinterpret_cast<Bytef*>(r.body.data());
  z.avail_in = static_cast<uInt>(r.body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  EXPECT_EQ(out, find_cover_page("/")->body);
  auto bytes = serialize_http1(r, 1001, true, "d");
  EXPECT_NE(bytes.find("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"), std::string::npos);
  // Not for HTTP/1.0, not through a proxy, not when refused with q=0.
  f.http_version = 1000;
  EXPECT_FALSE(static_response(f).chunked);
  f.http_version = 1001;
  f.accept_encoding = "gzip;q=0";
  EXPECT_FALSE(static_response(f).chunked);
}

}  // namespace
}  // namespace culvert::cover
