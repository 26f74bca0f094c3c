#include "inbound/http/codec.h"

#include <algorithm>
#include <charconv>

namespace culvert::http {
namespace {

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v == 0 || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

// "host", "host:port", "[v6]", "[v6]:port" -> Destination, with `default_port`.
Result<Destination> parse_authority(std::string_view authority, std::uint16_t default_port) {
  std::string host;
  std::uint16_t port = default_port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(Errc::malformed);
    host = std::string(authority.substr(1, close - 1));
    auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !parse_port(rest.substr(1), port)) return fail(Errc::malformed);
    }
  } else {
    auto colon = authority.find(':');
    host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos && !parse_port(authority.substr(colon + 1), port)) return fail(Errc::malformed);
  }
  if (host.empty()) return fail(Errc::malformed);
  for (char c : host)
    if (c == '@' || c == '/' || c == '?' || c == '#') return fail(Errc::malformed);
  auto d = make_destination(host, port);
  if (!d) return fail(Errc::malformed);
  return d;
}

}  // namespace

Result<ProxyRequest> parse_proxy_request(ByteSpan input) {
  std::string_view text = as_chars(input);
  auto end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (text.size() > kMaxHead) return fail(Errc::too_large);
    // Fail early on a request line that cannot become valid.
    auto sp = text.find(' ');
    std::string_view method = text.substr(0, sp);
    if (!std::all_of(method.begin(), method.end(), is_token_char)) return fail(Errc::malformed);
    return fail(Errc::truncated);
  }
  if (end + 4 > kMaxHead) return fail(Errc::too_large);
  std::string_view head = text.substr(0, end);
  ProxyRequest out;
  out.head_size = end + 4;

  auto line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  std::string_view header_block = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  auto sp1 = request_line.find(' ');
  if (sp1 == std::string_view::npos) return fail(Errc::malformed);
  auto sp2 = request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(Errc::malformed);
  std::string_view method = request_line.substr(0, sp1);
  std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = request_line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) return fail(Errc::malformed);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(Errc::malformed);
  if (target.empty()) return fail(Errc::malformed);

  // Headers: validated for shape; proxy-only ones dropped from forwarded requests.
  std::string kept_headers;
  while (!header_block.empty()) {
    auto eol = header_block.find("\r\n");
    std::string_view line = header_block.substr(0, eol);
    header_block = eol == std::string_view::npos ? std::string_view{} : header_block.substr(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(Errc::malformed);
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return fail(Errc::malformed);
    if (iequals(name, "Proxy-Connection") || iequals(name, "Proxy-Authorization") || iequals(name, "Connection") ||
        iequals(name, "Keep-Alive"))
      continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (iequals(name, "Content-Length")) {
      long long n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || n < 0) return fail(Errc::malformed);
      out.body_length = n;
    }
    if (iequals(name, "Transfer-Encoding")) out.body_length = -1;
    kept_headers.append(line);
    kept_headers.append("\r\n");
  }

  if (method == "CONNECT") {
    auto d = parse_authority(target, 0);
    if (!d || d->port == 0) return fail(Errc::malformed);
    out.is_connect = true;
    out.destination = *d;
    return out;
  }

  constexpr std::string_view kHttp = "http://";
  if (target.size() < kHttp.size() || !iequals(target.substr(0, kHttp.size()), kHttp)) return fail(Errc::malformed);
  std::string_view rest = target.substr(kHttp.size());
  auto path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  std::string path = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (path.front() == '?') path.insert(path.begin(), '/');
  auto d = parse_authority(authority, 80);
  if (!d) return fail(Errc::malformed);
  out.destination = *d;
  out.forward_head = std::string(method) + " " + path + " " + std::string(version) + "\r\n" + kept_headers +
                     "Connection: close\r\n\r\n";
  return out;
}

std::string simple_response(int status, std::string_view reason, std::string_view text) {
  std::string body;
  if (!text.empty()) body = std::string(text) + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason);
  out += "\r\n";
  if (!body.empty()) out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  return out + body;
}

}  // namespace culvert::http
