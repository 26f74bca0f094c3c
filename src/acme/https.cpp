#include "acme/https.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace culvert::acme {
namespace {

struct Url {
  std::string host, port = "443", path = "/";
};

bool parse_url(const std::string& url, Url& out) {
  if (url.rfind("https://", 0) != 0) return false;
  std::string rest = url.substr(8);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.path = rest.substr(slash);
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return false;
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') out.port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) out.port = authority.substr(colon + 1);
  }
  return !out.host.empty();
}

int connect_tcp(const Url& url, std::chrono::seconds timeout) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    timeval limit{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool dechunk(const std::string& in, std::string& out) {
  std::size_t pos = 0;
  for (;;) {
    auto eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    std::string digits = in.substr(pos, eol - pos);
    if (digits.empty() || digits.size() > 8) return false;
    std::size_t size = std::strtoul(digits.c_str(), nullptr, 16);
    pos = eol + 2;
    if (size == 0) return true;
    if (size > in.size() || pos + size > in.size()) return false;
    out.append(in, pos, size);
    pos += size + 2;
  }
}

}  // namespace

Result<HttpResponse> https_request(const std::string& method, const std::string& url_text, const std::string& body,
                                   const HttpsOptions& options, std::string& error) {
  Url url;
  if (!parse_url(url_text, url)) {
    error = "not an https:// URL: " + url_text;
    return fail(Errc::bad_config);
  }
  int fd = connect_tcp(url, options.timeout);
  if (fd < 0) {
    error = "cannot connect to " + url.host + ":" + url.port;
    return fail(Errc::dial_failed);
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_default_verify_paths(ctx);
  if (!options.ca_file.empty()) SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, url.host.c_str());
  SSL_set1_host(ssl, url.host.c_str());
  Result<HttpResponse> result = fail(Errc::tls_failed);
  auto cleanup = [&] {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
  };
  if (SSL_connect(ssl) != 1) {
    long verify = SSL_get_verify_result(ssl);
    error = "TLS with " + url.host + " failed" +
            (verify != X509_V_OK ? std::string(": ") + X509_verify_cert_error_string(verify) : std::string());
    cleanup();
    return result;
  }
  std::string host_header = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (url.port != "443") host_header += ":" + url.port;
  std::string request = method + " " + url.path + " HTTP/1.1\r\nHost: " + host_header +
                        "\r\nUser-Agent: culvert-acme/" CULVERT_VERSION "\r\nAccept: application/json\r\n";
  if (method == "POST")
    request += "Content-Type: application/jose+json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  request += "Connection: close\r\n\r\n" + body;
  if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) {
    error = "cannot send to " + url.host;
    cleanup();
    return fail(Errc::dial_failed);
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
    if (raw.size() > (8u << 20)) break;
  }
  cleanup();
  auto parsed = parse_http_response(raw);
  if (!parsed) error = "no valid HTTP answer from " + url.host;
  return parsed;
}

Result<HttpResponse> parse_http_response(std::string_view raw) {
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos || raw.size() < 12 || raw.substr(0, 7) != "HTTP/1.")
    return fail(Errc::malformed);
  HttpResponse response;
  for (std::size_t i = 9; i < 12; ++i) {
    if (raw[i] < '0' || raw[i] > '9') return fail(Errc::malformed);
    response.status = response.status * 10 + (raw[i] - '0');
  }
  std::size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    auto eol = raw.find("\r\n", pos);
    std::string line(raw.substr(pos, eol - pos));
    pos = eol + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    response.headers[lower(line.substr(0, colon))] = value;
  }
  std::string payload(raw.substr(head_end + 4));
  if (lower(response.header("transfer-encoding")) == "chunked") {
    if (!dechunk(payload, response.body)) return fail(Errc::truncated);
  } else {
    response.body = std::move(payload);
  }
  return response;
}

}  // namespace culvert::acme
