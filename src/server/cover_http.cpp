#include "server/cover_http.h"

#include <ctime>

#include "server/cover_site_pages.h"

namespace culvert {
namespace {

constexpr std::size_t kMaxHead = 8 * 1024;

std::string http_date(std::time_t t) {
  char buf[64];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string error_page(int status, const char* reason) {
  std::string title = std::to_string(status) + " " + reason;
  return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
         "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
}

std::string response(int status, const char* reason, const std::string& type, const std::string& body, bool head_only,
                     bool keep_alive, const char* extra = "") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\nServer: nginx\r\nDate: " + http_date(std::time(nullptr)) + "\r\nContent-Type: " + type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
                    "Connection: " + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
  if (!head_only) out += body;
  return out;
}

}  // namespace

std::optional<CoverResponse> cover_respond(ByteSpan input) {
  std::string_view text = as_chars(input);
  // nginx skips empty lines before a request line.
  std::size_t skip = 0;
  while (skip + 1 < text.size() && text[skip] == '\r' && text[skip + 1] == '\n') skip += 2;
  std::string_view rest = text.substr(skip);
  auto end = rest.find("\r\n\r\n");
  auto bad = [&](int status, const char* reason) {
    return CoverResponse{response(status, reason, "text/html", error_page(status, reason), false, false), false,
                         input.size()};
  };
  if (end == std::string_view::npos) {
    if (rest.size() > kMaxHead) return bad(400, "Bad Request");
    // A request line that can never be valid is answered at once, as nginx does.
    auto line_end = rest.find("\r\n");
    std::string_view partial = rest.substr(0, line_end);
    for (char c : partial.substr(0, partial.find(' '))) {
      if (!(c >= 'A' && c <= 'Z') && c != '_' && c != '-') return bad(400, "Bad Request");
    }
    if (line_end != std::string_view::npos) {
      if (partial.find(" HTTP/1.") == std::string_view::npos) return bad(400, "Bad Request");
    }
    return std::nullopt;
  }
  std::string_view head = rest.substr(0, end);
  std::size_t consumed = skip + end + 4;
  auto line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return bad(400, "Bad Request");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return bad(400, "Bad Request");
  // nginx accepts only A-Z, '_' and '-' in a method, and no control bytes in the target.
  for (char c : method)
    if (!(c >= 'A' && c <= 'Z') && c != '_' && c != '-') return bad(400, "Bad Request");
  for (unsigned char c : target)
    if (c <= 0x20 || c == 0x7f) return bad(400, "Bad Request");
  if (target.empty() || target.front() != '/') return bad(400, "Bad Request");

  bool keep_alive = version == "HTTP/1.1";
  bool have_host = false;
  std::size_t content_length = 0;
  std::string_view headers = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
  while (!headers.empty()) {
    auto eol = headers.find("\r\n");
    std::string_view h = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 2);
    auto colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad(400, "Bad Request");
    std::string_view name = h.substr(0, colon);
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (iequals(name, "Host")) have_host = true;
    if (iequals(name, "Connection")) {
      if (iequals(value, "close")) keep_alive = false;
      if (iequals(value, "keep-alive")) keep_alive = true;
    }
    if (iequals(name, "Content-Length")) {
      content_length = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || content_length > (1u << 30)) return bad(400, "Bad Request");
        content_length = content_length * 10 + static_cast<std::size_t>(c - '0');
      }
    }
    if (iequals(name, "Transfer-Encoding")) return bad(411, "Length Required");
  }
  if (version == "HTTP/1.1" && !have_host) return bad(400, "Bad Request");
  if (input.size() - consumed < content_length) {
    if (content_length > 64 * 1024) return bad(413, "Request Entity Too Large");
    return std::nullopt;  // wait for the body, then discard it
  }
  consumed += content_length;

  std::string path(target.substr(0, target.find('?')));
  bool head_only = method == "HEAD";
  const CoverPage* page = find_cover_page(path);
  if (method != "GET" && method != "HEAD") {
    if (!page) {
      return CoverResponse{response(404, "Not Found", "text/html", error_page(404, "Not Found"), false, keep_alive),
                           keep_alive, consumed};
    }
    return CoverResponse{response(405, "Not Allowed", "text/html", error_page(405, "Not Allowed"), false, keep_alive),
                         keep_alive, consumed};
  }
  if (!page) {
    return CoverResponse{response(404, "Not Found", "text/html", error_page(404, "Not Found"), head_only, keep_alive),
                         keep_alive, consumed};
  }
  std::string extra = "Last-Modified: " + std::string(page->last_modified) + "\r\nAccept-Ranges: bytes\r\n";
  return CoverResponse{response(200, "OK", std::string(page->content_type), std::string(page->body), head_only,
                                keep_alive, extra.c_str()),
                       keep_alive, consumed};
}

}  // namespace culvert
