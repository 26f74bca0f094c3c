// HTTP proxy request codec, pure: parses the request head a browser or curl sends to an HTTP
// proxy (RFC 9110 §9.3.6 CONNECT, or an absolute-form URI, RFC 9112 §3.2.2) and rewrites
// absolute-form requests into the origin-form request the destination expects.
#pragma once

#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/destination.h"
#include "core/result.h"

namespace culvert::http {

inline constexpr std::size_t kMaxHead = 16 * 1024;

struct ProxyRequest {
  bool is_connect = false;
  Destination destination;
  // For absolute-form requests: the head to send to the destination (origin-form, proxy headers
  // removed, "Connection: close"). Empty for CONNECT.
  std::string forward_head;
  std::size_t head_size = 0;  // bytes of input the head used; any rest is body or tunnel data
  // The request body's length from Content-Length (0 without one); -1 for a chunked body.
  long long body_length = 0;
};

// Errc::truncated until the blank line that ends the head arrives; Errc::too_large past kMaxHead;
// Errc::malformed for anything that is not a proxy request we can serve.
Result<ProxyRequest> parse_proxy_request(ByteSpan input);

// A complete response with an empty body, e.g. "HTTP/1.1 400 Bad Request".
std::string simple_response(int status, std::string_view reason, std::string_view text = {});
inline constexpr std::string_view kConnectEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

}  // namespace culvert::http
