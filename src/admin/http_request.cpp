#include "admin/http_request.h"

#include <charconv>

#include "link/share_link.h"

namespace culvert::admin {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

Result<HttpRequest> parse_http_request(ByteSpan input) {
  std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  auto end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (text.size() > kMaxHead) return fail(Errc::too_large);
    return fail(Errc::truncated);
  }
  if (end + 4 > kMaxHead) return fail(Errc::too_large);
  auto head = text.substr(0, end);
  auto line_end = head.find("\r\n");
  auto request_line = head.substr(0, line_end);
  HttpRequest r;
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return fail(Errc::malformed);
  r.method = std::string(request_line.substr(0, sp1));
  auto target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = request_line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(Errc::malformed);
  if (r.method.empty() || !std::all_of(r.method.begin(), r.method.end(), token_char)) return fail(Errc::malformed);
  if (target.empty() || target.front() != '/') return fail(Errc::malformed);
  auto question = target.find('?');
  auto path = percent_decode(target.substr(0, question));
  if (!path) return fail(Errc::malformed);
  r.path = *path;
  if (question != std::string_view::npos) {
    auto query = target.substr(question + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      auto pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      std::string raw_value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      for (auto& c : raw_value)
        if (c == '+') c = ' ';
      auto key = percent_decode(pair.substr(0, eq));
      auto value = percent_decode(raw_value);
      if (!key || !value) return fail(Errc::malformed);
      r.query[*key] = *value;
    }
  }
  std::size_t content_length = 0;
  auto rest = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!rest.empty()) {
    auto eol = rest.find("\r\n");
    auto line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(Errc::malformed);
    auto name = lower(line.substr(0, colon));
    if (!std::all_of(name.begin(), name.end(), token_char)) return fail(Errc::malformed);
    auto value = trim(line.substr(colon + 1));
    if (name == "authorization") {
      r.authorization = std::string(value);
    } else if (name == "content-length") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), content_length);
      if (ec != std::errc() || p != value.data() + value.size()) return fail(Errc::malformed);
    } else if (name == "transfer-encoding") {
      return fail(Errc::malformed);  // no chunked bodies: the API takes its parameters in the URL
    }
  }
  if (content_length > kMaxBody) return fail(Errc::too_large);
  if (text.size() < end + 4 + content_length) return fail(Errc::truncated);
  r.size = end + 4 + content_length;
  return r;
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers) {
  const char* reason = "OK";
  switch (status) {
    case 201:
      reason = "Created";
      break;
    case 400:
      reason = "Bad Request";
      break;
    case 401:
      reason = "Unauthorized";
      break;
    case 404:
      reason = "Not Found";
      break;
    case 405:
      reason = "Method Not Allowed";
      break;
    case 409:
      reason = "Conflict";
      break;
    case 413:
      reason = "Content Too Large";
      break;
    case 500:
      reason = "Internal Server Error";
      break;
    default:
      break;
  }
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + std::string(content_type) +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace culvert::admin
