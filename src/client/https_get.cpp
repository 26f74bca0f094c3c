#include "client/https_get.h"

#include <asio/connect.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>
#include <charconv>
#include <cstring>

#include "core/await.h"
#include "cover/chunked_body.h"
#include "crypto/crypto.h"
#include "tls13/client_stream.h"
#include "transport/cdn/h2_client.h"
#include "transport/tcp_connect.h"

namespace culvert {
namespace {

constexpr std::size_t kMaxBody = 4 << 20;

// SOCKS5 CONNECT (no authentication, a domain name) on an open socket.
asio::awaitable<bool> socks5_connect(asio::ip::tcp::socket& socket, const std::string& host, std::uint16_t port) {
  if (host.size() > 255) co_return false;
  Bytes hello = {5, 1, 0};
  auto [e1, n1] = co_await asio::async_write(socket, asio::buffer(hello), use_tuple);
  std::uint8_t choice[2];
  auto [e2, n2] = co_await asio::async_read(socket, asio::buffer(choice), use_tuple);
  if (e1 || e2 || choice[0] != 5 || choice[1] != 0) co_return false;
  std::string request("\x05\x01\x00\x03", 4);
  request.push_back(static_cast<char>(host.size()));
  request += host;
  request.push_back(static_cast<char>(port >> 8));
  request.push_back(static_cast<char>(port & 0xff));
  auto [e3, n3] = co_await asio::async_write(socket, asio::buffer(request), use_tuple);
  std::uint8_t reply[10];
  auto [e4, n4] = co_await asio::async_read(socket, asio::buffer(reply, 4), use_tuple);
  if (e3 || e4 || reply[1] != 0) co_return false;
  std::size_t rest = reply[3] == 1 ? 6 : reply[3] == 4 ? 18 : 0;
  if (reply[3] == 3) {
    std::uint8_t len = 0;
    auto [e5, n5] = co_await asio::async_read(socket, asio::buffer(&len, 1), use_tuple);
    if (e5) co_return false;
    rest = len + 2u;
  }
  std::vector<std::uint8_t> skip(rest);
  auto [e6, n6] = co_await asio::async_read(socket, asio::buffer(skip), use_tuple);
  co_return !e6;
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// Parses an HTTP/1.1 answer read to the connection's end.
Result<HttpsAnswer> parse_http1(const std::string& raw) {
  auto end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 && raw.compare(0, 9, "HTTP/1.0 ") != 0) return fail(Errc::malformed);
  if (end == std::string::npos || raw.size() < 12) return fail(Errc::truncated);
  HttpsAnswer a;
  auto [p, ec] = std::from_chars(raw.data() + 9, raw.data() + 12, a.status);
  if (ec != std::errc()) return fail(Errc::malformed);
  std::size_t line = raw.find("\r\n") + 2;
  bool chunked = false;
  while (line < end) {
    auto next = raw.find("\r\n", line);
    auto colon = raw.find(':', line);
    if (colon != std::string::npos && colon < next) {
      std::string name = lower(raw.substr(line, colon - line));
      std::string value = raw.substr(colon + 1, next - colon - 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (name == "transfer-encoding" && lower(value) == "chunked") chunked = true;
      a.headers.emplace_back(name, value);
    }
    line = next + 2;
  }
  std::string body = raw.substr(end + 4);
  if (chunked) {
    cover::ChunkedDecoder decoder;
    Bytes out;
    if (!decoder.feed(as_bytes(body), out) || !decoder.done()) return fail(Errc::malformed);
    body.assign(out.begin(), out.end());
  } else if (auto length = a.header("content-length"); !length.empty()) {
    std::size_t n = 0;
    std::from_chars(length.data(), length.data() + length.size(), n);
    if (body.size() < n) return fail(Errc::truncated);
    body.resize(n);
  }
  a.body = std::move(body);
  return a;
}

}  // namespace

std::string HttpsAnswer::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return {};
}

std::optional<HttpsUrl> parse_https_url(std::string_view url) {
  if (!url.starts_with("https://")) return std::nullopt;
  url.remove_prefix(8);
  HttpsUrl out;
  if (auto hash = url.find('#'); hash != std::string_view::npos) {
    auto fragment = url.substr(hash + 1);
    url = url.substr(0, hash);
    if (fragment.starts_with("pin=")) {
      auto bytes = crypto::base64url_decode(fragment.substr(4));
      if (!bytes || bytes->size() != 32) return std::nullopt;
      std::array<std::uint8_t, 32> pin{};
      std::memcpy(pin.data(), bytes->data(), 32);
      out.pin = pin;
    }
  }
  auto slash = url.find('/');
  auto authority = url.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(url.substr(slash));
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
  } else {
    auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    authority = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  }
  if (!authority.empty()) {
    if (authority.front() != ':') return std::nullopt;
    unsigned port = 0;
    auto [p, ec] = std::from_chars(authority.data() + 1, authority.data() + authority.size(), port);
    if (ec != std::errc() || p != authority.data() + authority.size() || port == 0 || port > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
  }
  if (out.host.empty()) return std::nullopt;
  return out;
}

asio::awaitable<Result<HttpsAnswer>> https_get(const std::string& url_text,
                                               std::optional<asio::ip::tcp::endpoint> proxy,
                                               std::chrono::steady_clock::time_point deadline, std::string& why) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  auto url = parse_https_url(url_text);
  if (!url) {
    why = "not an https:// URL";
    co_return fail(Errc::bad_config);
  }
  std::optional<asio::ip::tcp::socket> socket;
  asio::steady_timer timer(executor, deadline);
  if (proxy) {
    asio::ip::tcp::socket s(executor);
    auto [ec] = co_await s.async_connect(*proxy, use_tuple);
    auto via = co_await (socks5_connect(s, url->host, url->port) || timer.async_wait(use_tuple));
    if (ec || via.index() != 0 || !std::get<0>(via)) {
      why = "the tunnel could not reach " + url->host;
      co_return fail(Errc::dial_failed);
    }
    socket.emplace(std::move(s));
  } else {
    auto s = co_await connect_to_server(url->host, url->port, deadline, why);
    if (!s) co_return fail(s.error());
    socket.emplace(std::move(*s));
  }
  tls13::ClientConfig config;
  std::error_code not_ip;
  asio::ip::make_address(url->host, not_ip);
  config.server_name = not_ip ? url->host : "";  // no SNI for an address, as browsers do
  auto verifier = tls13::CertificateVerifier::create({url->host, url->pin});
  if (!verifier) {
    why = "cannot load the system's CA certificates";
    co_return fail(Errc::tls_failed);
  }
  config.verifier = *verifier;
  auto stream = std::make_unique<tls13::ClientStream>(std::move(*socket), config);
  auto hs = co_await (stream->handshake() || timer.async_wait(use_tuple));
  if (hs.index() == 1) {
    why = "the TLS handshake timed out";
    co_return fail(Errc::timed_out);
  }
  if (auto ec = std::get<0>(hs)) {
    why = ec == Errc::pin_mismatch            ? "the certificate is not the one pinned in the URL"
          : ec == Errc::untrusted_certificate ? "the certificate is not trusted: " + config.verifier->last_failure()
                                              : "the TLS handshake failed (" + ec.message() + ")";
    co_return fail(ec);
  }
  std::string authority = url->host + (url->port == 443 ? "" : ":" + std::to_string(url->port));
  if (stream->summary().alpn == "h2") {
    auto client = std::make_shared<cdn::H2Client>(executor, std::move(stream));
    auto headers = cdn::chromium_fetch_headers("GET", authority, url->path, std::nullopt);
    auto request = client->submit(headers, {}, false);
    auto run = [client]() -> asio::awaitable<void> { co_await client->run(); };
    auto fetch = [&]() -> asio::awaitable<Result<HttpsAnswer>> {
      auto status = co_await request->status();
      if (!status) co_return fail(status.error());
      HttpsAnswer a;
      a.status = *status;
      for (const auto& h : request->response_headers()) a.headers.emplace_back(h.name, h.value);
      std::uint8_t chunk[16384];
      for (;;) {
        auto [ec, n] = co_await request->read_some(asio::buffer(chunk));
        if (ec == asio::error::eof) break;
        if (ec) co_return fail(ec);
        a.body.append(reinterpret_cast<char*>(chunk), n);
        if (a.body.size() > kMaxBody) co_return fail(Errc::too_large);
      }
      co_return a;
    };
    auto result = co_await (fetch() || run() || timer.async_wait(use_tuple));
    client->close();
    if (result.index() != 0) {
      why = "the answer did not come in time";
      co_return fail(Errc::timed_out);
    }
    auto answer = std::get<0>(std::move(result));
    if (!answer) why = "the HTTP/2 exchange failed";
    co_return answer;
  }
  std::string request = "GET " + url->path + " HTTP/1.1\r\nHost: " + authority +
                        "\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  if (auto ec = co_await stream->write_all(asio::buffer(request))) {
    why = "the request could not be sent";
    co_return fail(ec);
  }
  std::string raw;
  std::uint8_t chunk[16384];
  for (;;) {
    auto read = co_await (stream->read_some(asio::buffer(chunk)) || timer.async_wait(use_tuple));
    if (read.index() == 1) {
      why = "the answer did not come in time";
      co_return fail(Errc::timed_out);
    }
    auto [ec, n] = std::get<0>(read);
    raw.append(reinterpret_cast<char*>(chunk), n);
    if (ec || raw.size() > kMaxBody) break;
  }
  auto answer = parse_http1(raw);
  if (!answer) why = "the answer is not HTTP";
  co_return answer;
}

}  // namespace culvert
