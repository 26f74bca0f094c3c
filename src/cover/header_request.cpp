#include "cover/header_request.h"

namespace culvert::cover {
namespace {

Method method_from(const std::string& m) {
  static const std::pair<const char*, Method> names[] = {
      {"GET", Method::get},           {"HEAD", Method::head},
      {"POST", Method::post},         {"PUT", Method::put},
      {"DELETE", Method::delete_},    {"OPTIONS", Method::options},
      {"PATCH", Method::patch},       {"TRACE", Method::trace},
      {"CONNECT", Method::connect},   {"MKCOL", Method::mkcol},
      {"COPY", Method::copy},         {"MOVE", Method::move},
      {"LOCK", Method::lock},         {"UNLOCK", Method::unlock},
      {"PROPFIND", Method::propfind}, {"PROPPATCH", Method::proppatch}};
  for (const auto& [name, method] : names)
    if (m == name) return method;
  return Method::unknown;
}

}  // namespace

void HeaderRequest::add_header(std::string_view n, std::string_view v) {
  if (n == ":method") method = v;
  if (n == ":path") path = v;
  if (n == "user-agent" && v.find("Chrome/") != std::string_view::npos && v.find("Gecko/") == std::string_view::npos &&
      v.find("Opera") == std::string_view::npos)
    facts.chrome = true;
  if (n == "user-agent" && v.find("MSIE ") != std::string_view::npos) facts.msie = true;
  if (n == "accept-encoding" && facts.accept_encoding.empty()) facts.accept_encoding = v;
  if (n == "via") facts.via = true;
  if (n == "range") facts.range = v;
  if (n == "if-range") facts.if_range = v;
  if (n == "if-modified-since") facts.if_modified_since = v;
  if (n == "if-unmodified-since") facts.if_unmodified_since = v;
  if (n == "if-match") facts.if_match = v;
  if (n == "if-none-match") facts.if_none_match = v;
}

Response answer_header_request(HeaderRequest& r, int http_version, const std::vector<Claim>& claims) {
  r.facts.http_version = http_version;
  r.facts.method = method_from(r.method);
  std::string uri;
  std::string path = r.path.substr(0, r.path.find('?'));
  if (r.path.empty() || r.path[0] != '/' || !normalize_uri(path, uri)) return special_response(400, r.facts);
  r.facts.uri = uri;
  const Claim* claim = find_claim(claims, uri);
  if (claim && claim->answer) {
    if (auto claimed = claim->answer(ClaimedRequest{r.method, uri, http_version, std::nullopt, false}))
      return std::move(*claimed);
  }
  return static_response(r.facts);
}

}  // namespace culvert::cover
