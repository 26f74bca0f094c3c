// A small blocking HTTPS client for the ACME server: one request per connection (Connection:
// close), the server's certificate checked against the system's CA store (SSL_CERT_FILE and
// SSL_CERT_DIR honoured) plus an optional extra CA file, the host name checked. Runs on the ACME
// thread, never on the server's event loop.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "core/result.h"

namespace culvert::acme {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; the last value of each
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpsOptions {
  std::string ca_file;  // extra trusted CAs (PEM), e.g. a test CA's; "" for the system's only
  std::chrono::seconds timeout{30};
};

// Parses a whole HTTP/1.x response (read until the server closed): status, headers, body (chunked
// transfer coding undone). Errc::malformed or Errc::truncated for anything else.
Result<HttpResponse> parse_http_response(std::string_view raw);

// `method` GET, HEAD or POST (with `body` as application/jose+json). On failure `error` says why.
Result<HttpResponse> https_request(const std::string& method, const std::string& url, const std::string& body,
                                   const HttpsOptions& options, std::string& error);

}  // namespace culvert::acme
