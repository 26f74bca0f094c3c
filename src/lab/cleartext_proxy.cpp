#include "lab/cleartext_proxy.h"

namespace culvert::lab {
namespace {

constexpr const char* kSource = "../shared/CENSOR.md: cleartext proxies are trivially seen";

bool starts_with(ByteSpan b, std::string_view s) { return b.size() >= s.size() && as_chars(b.first(s.size())) == s; }

}  // namespace

Verdict cleartext_proxy_verdict(ByteSpan b) {
  Verdict v{"cleartext-proxy", Outcome::pass, "no proxy protocol in the clear", kSource};
  if (b.size() >= 3 && b[0] == 0x05 && b[1] >= 1 && b[1] <= 16 && b.size() == 2u + b[1]) {
    v.outcome = Outcome::flag;
    v.reason = "SOCKS5 greeting";
  } else if (b.size() >= 9 && b[0] == 0x04 && (b[1] == 0x01 || b[1] == 0x02) && b.back() == 0x00) {
    v.outcome = Outcome::flag;
    v.reason = "SOCKS4 request";
  } else if (starts_with(b, "CONNECT ")) {
    v.outcome = Outcome::flag;
    v.reason = "HTTP CONNECT";
  } else {
    for (std::string_view m : {"GET http://", "POST http://", "HEAD http://", "PUT http://"}) {
      if (starts_with(b, m)) {
        v.outcome = Outcome::flag;
        v.reason = "HTTP proxy request (absolute-form URI)";
      }
    }
  }
  return v;
}

std::optional<std::string> http_host(ByteSpan b) {
  std::string_view text = as_chars(b);
  if (text.rfind("CONNECT ", 0) == 0) {
    auto end = text.find(' ', 8);
    auto authority = text.substr(8, end == std::string_view::npos ? std::string_view::npos : end - 8);
    return std::string(authority.substr(0, authority.rfind(':')));
  }
  bool is_http = false;
  for (std::string_view m : {"GET ", "POST ", "HEAD ", "PUT ", "OPTIONS ", "DELETE "}) is_http |= text.rfind(m, 0) == 0;
  if (!is_http) return std::nullopt;
  std::size_t pos = text.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < text.size()) {
    auto next = text.find("\r\n", pos + 2);
    auto line = text.substr(pos + 2, next == std::string_view::npos ? std::string_view::npos : next - pos - 2);
    if (line.empty()) break;
    if (line.size() > 5 && iequals(line.substr(0, 5), "host:")) {
      auto value = line.substr(5);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return std::string(value.substr(0, value.rfind(':') == std::string_view::npos ? value.size() : value.rfind(':')));
    }
    pos = next;
  }
  return std::nullopt;
}

}  // namespace culvert::lab
