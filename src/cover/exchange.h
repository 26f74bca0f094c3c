// Requests the cover site hands to someone else: the CDN transport's requests arrive on the
// cover site, at a secret path, among everyone else's. The cover parses every request the way
// nginx does (cover/http1.h); for a request whose path a Claim accepts it lets the handler read
// the body and answer, and answers as the cover itself when the handler declines (a probe at the
// secret path without a valid session meets the same 404 as any other missing file).
// Thread model: the connection's executor. Ownership: an Exchange lives for one request.
#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "cover/response.h"

namespace culvert::cover {

struct ClaimedRequest {
  std::string method;  // "GET", "POST", ...
  std::string uri;     // the path, normalised as nginx does, without the query
  int http_version = 1001;
  std::optional<long long> content_length;
  bool chunked = false;
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const ClaimedRequest& request() const = 0;
  // Reads request body bytes: the count, 0 at the body's end; an error if the peer fails, the
  // body is malformed (chunked) or `timeout` passes without a byte.
  virtual asio::awaitable<Result<std::size_t>> read_body(std::span<std::uint8_t> into,
                                                         std::chrono::milliseconds timeout) = 0;
  // A complete answer: 200 with this body.
  virtual asio::awaitable<bool> respond(ByteSpan body) = 0;
  // A streamed answer: 200 with a body of unknown length (chunked for HTTP/1.1, to the
  // connection's end for HTTP/1.0); then stream_end(), which ends the connection for HTTP/1.0.
  virtual asio::awaitable<bool> stream_begin() = 0;
  virtual asio::awaitable<bool> stream(ByteSpan bytes) = 0;
  virtual asio::awaitable<bool> stream_end() = 0;
};

enum class Handled {
  cover,     // not ours after all: the cover answers the request (its body is consumed)
  answered,  // answered; the connection may take the next request
  failed,    // the connection cannot go on (the peer went away, a stream was cut)
};

// A claim takes the requests whose path it `wants`, and answers them one of two ways:
//  - `answer`: at once, from the request line alone (HTTP/1.x and HTTP/2; the body, if any, is
//    discarded as the cover discards it); nothing means the cover answers.
//  - `handle`: the whole exchange, body and streamed answer included (HTTP/1.x only; over HTTP/2
//    such a path is the cover's).
struct Claim {
  std::function<bool(std::string_view uri)> wants;
  std::function<std::optional<Response>(const ClaimedRequest&)> answer;
  std::function<asio::awaitable<Handled>(Exchange&)> handle;
};

// The first of `claims` that wants `uri`, or null.
inline const Claim* find_claim(const std::vector<Claim>& claims, std::string_view uri) {
  for (const auto& c : claims)
    if (c.wants && c.wants(uri)) return &c;
  return nullptr;
}

}  // namespace culvert::cover
