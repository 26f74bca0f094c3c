// A request that arrives as a header list (HTTP/2, HTTP/3): what its headers tell nginx's
// filters, and the answer nginx would give it — 400 for a path it refuses, a claim's answer, or
// the static site's. Shared by the HTTP/2 and HTTP/3 faces of the cover. Pure code: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cover/exchange.h"
#include "cover/response.h"

namespace culvert::cover {

struct HeaderRequest {
  std::string method, path;
  RequestFacts facts;
  // One header as received (lower-case name; pseudo-headers included).
  void add_header(std::string_view name, std::string_view value);
};

// `http_version` as nginx numbers it: 2000 for HTTP/2, 3000 for HTTP/3.
Response answer_header_request(HeaderRequest& request, int http_version, const std::vector<Claim>& claims);

}  // namespace culvert::cover
