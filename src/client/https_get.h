// A small HTTPS GET for the client's own needs (subscriptions): Culvert's TLS client with
// Chromium's ClientHello, the server's certificate checked against the system CAs for the URL's
// name (SSL_CERT_FILE honoured) or against a pin given as "#pin=SPKI" at the URL's end, HTTP/2
// when the server offers it (else HTTP/1.1), directly or through a SOCKS5 proxy (the client's own
// listener, so the request takes the tunnel its rules choose).
// Thread model: the caller's executor.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace culvert {

struct HttpsUrl {
  std::string host;
  std::uint16_t port = 443;
  std::string path = "/";
  std::optional<std::array<std::uint8_t, 32>> pin;
};
// https://HOST[:PORT][/PATH][#pin=SPKI]; nothing for anything else.
std::optional<HttpsUrl> parse_https_url(std::string_view url);

struct HttpsAnswer {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
  std::string header(std::string_view name) const;
};

// GETs `url` (bodies up to 4 MiB). `proxy`: a SOCKS5 proxy to go through, or direct. On failure
// `why` says what went wrong.
asio::awaitable<Result<HttpsAnswer>> https_get(const std::string& url, std::optional<asio::ip::tcp::endpoint> proxy,
                                               std::chrono::steady_clock::time_point deadline, std::string& why);

}  // namespace culvert
