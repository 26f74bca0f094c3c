#include "cover/response.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace culvert::cover {
namespace {

constexpr std::string_view kTail = "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
constexpr std::string_view kPaddingLine = "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";

std::string_view status_line(int status) {
  switch (status) {
    case 200:
      return "200 OK";
    case 206:
      return "206 Partial Content";
    case 304:
      return "304 Not Modified";
    case 400:
      return "400 Bad Request";
    case 403:
      return "403 Forbidden";
    case 404:
      return "404 Not Found";
    case 405:
      return "405 Not Allowed";
    case 408:
      return "408 Request Time-out";
    case 411:
      return "411 Length Required";
    case 412:
      return "412 Precondition Failed";
    case 413:
      return "413 Request Entity Too Large";
    case 414:
      return "414 Request-URI Too Large";
    case 416:
      return "416 Requested Range Not Satisfiable";
    case 500:
      return "500 Internal Server Error";
    case 501:
      return "501 Not Implemented";
    case 505:
      return "505 HTTP Version Not Supported";
  }
  return "500 Internal Server Error";
}

// The page nginx sends for an error status (without the tail), or "" for none.
std::string error_page(int status) {
  auto page = [](std::string_view title, std::string_view h1, std::string_view line = {}) {
    std::string s = "<html>\r\n<head><title>" + std::string(title) + "</title></head>\r\n<body>\r\n<center><h1>" +
                    std::string(h1) + "</h1></center>\r\n";
    if (!line.empty()) s += "<center>" + std::string(line) + "</center>\r\n";
    return s;
  };
  switch (status) {
    case 494:
      return page("400 Request Header Or Cookie Too Large", "400 Bad Request", "Request Header Or Cookie Too Large");
    case 497:
      return page("400 The plain HTTP request was sent to HTTPS port", "400 Bad Request",
                  "The plain HTTP request was sent to HTTPS port");
    case 400:
    case 403:
    case 404:
    case 405:
    case 408:
    case 411:
    case 412:
    case 413:
    case 414:
    case 416:
    case 500:
    case 501:
    case 505: {
      auto line = status_line(status);
      return page(line, line);
    }
  }
  return {};
}

bool gzip_accepted(std::string_view ae) {
  if (ae.size() < 4) return false;
  if (ae.starts_with("gzip,")) return true;
  auto lower = [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); };
  std::size_t start = 0, p = std::string_view::npos;
  for (;;) {
    p = std::string_view::npos;
    for (std::size_t i = start; i + 4 <= ae.size(); ++i) {
      if (lower(ae[i]) == 'g' && lower(ae[i + 1]) == 'z' && lower(ae[i + 2]) == 'i' && lower(ae[i + 3]) == 'p') {
        p = i;
        break;
      }
    }
    if (p == std::string_view::npos) return false;
    if (p == start || ae[p - 1] == ',' || ae[p - 1] == ' ') break;
    start = p + 4;
  }
  p += 4;
  while (p < ae.size()) {
    char c = ae[p++];
    if (c == ',') return true;
    if (c == ' ') continue;
    if (c != ';') return false;
    while (p < ae.size()) {
      char q = ae[p++];
      if (q == ' ') continue;
      if (q != 'q' && q != 'Q') return false;
      if (p + 2 > ae.size() || ae[p++] != '=') return false;
      // ngx_http_gzip_quantity: "0", "0.0"... is zero; "1", "0.5" are not.
      std::string_view v = ae.substr(p);
      if (v.empty()) return false;
      if (v[0] == '1') return true;
      if (v[0] != '0') return false;
      for (std::size_t i = 1; i < v.size() && v[i] != ',' && v[i] != ' '; ++i) {
        if (v[i] >= '1' && v[i] <= '9') return true;
        if (v[i] != '.' && v[i] != '0') return false;
      }
      return false;
    }
    return true;
  }
  return true;
}

// nginx's gzip filter: level 1, window and memory levels shrunk to the content length, the
// input fed in the same pieces as nginx's buffer chain.
std::string gzip_like_nginx(const std::vector<std::string_view>& pieces, long long content_length) {
  int wbits = 15, memlevel = 8;
  if (content_length > 0) {
    while (content_length < ((1 << (wbits - 1)) - 262)) {
      wbits--;
      memlevel--;
    }
    if (memlevel < 1) memlevel = 1;
  }
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, wbits + 16, memlevel, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out;
  char buffer[4096];
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    bool last = i + 1 == pieces.size();
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(pieces[i].data()));
    z.avail_in = static_cast<uInt>(pieces[i].size());
    int rc = Z_OK;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof buffer;
      rc = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
      out.append(buffer, sizeof buffer - z.avail_out);
    } while (z.avail_in > 0 || (last && rc != Z_STREAM_END));
  }
  deflateEnd(&z);
  return out;
}

std::string hex(long long v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", v);
  return buf;
}

// Applies the gzip header and body filters to a response whose body is `pieces`.
void maybe_gzip(Response& r, const RequestFacts& f, const std::vector<std::string_view>& pieces) {
  if ((r.status != 200 && r.status != 403 && r.status != 404) || r.content_type != "text/html" || r.header_only ||
      (r.content_length != -1 && r.content_length < 20))
    return;
  if (!gzip_accepted(f.accept_encoding) || f.http_version < 1001 || f.via) return;
  r.body = gzip_like_nginx(pieces, r.content_length);
  r.content_length = -1;
  for (auto it = r.headers.begin(); it != r.headers.end();) {
    if (it->first == "Accept-Ranges") {
      it = r.headers.erase(it);
      continue;
    }
    if (it->first == "ETag" && it->second.starts_with("\"")) it->second = "W/" + it->second;
    ++it;
  }
  r.headers.emplace_back("Content-Encoding", "gzip");
  if (f.http_version < 2000) r.chunked = true;
}

bool if_match(std::string_view header, std::string_view etag, bool weak) {
  if (header == "*") return true;
  std::size_t start = 0, end = header.size();
  while (start < end) {
    if (weak && end - start > 2 && header[start] == 'W' && header[start + 1] == '/') start += 2;
    if (etag.size() > end - start) return false;
    if (header.substr(start, etag.size()) == etag) {
      start += etag.size();
      while (start < end && (header[start] == ' ' || header[start] == '\t')) ++start;
      if (start == end || header[start] == ',') return true;
    }
    while (start < end && header[start] != ',') ++start;
    while (start < end && (header[start] == ' ' || header[start] == '\t' || header[start] == ',')) ++start;
  }
  return false;
}

struct Range {
  long long start = 0, end = 0;
};

// ngx_http_range_parse: 0 ok (ranges filled), 1 not satisfiable, 2 declined (send it all).
int parse_ranges(std::string_view value, long long length, std::vector<Range>& out) {
  std::string v(value.substr(6));
  v.push_back('\0');
  const char* p = v.c_str();
  long long size = 0;
  const long long cutoff = 0x7fffffffffffffffLL / 10, cutlim = 0x7fffffffffffffffLL % 10;
  int budget = 1;  // max_ranges is unlimited; a single part is what is answered here
  (void)budget;
  for (;;) {
    long long start = 0, end = 0;
    bool suffix = false;
    while (*p == ' ') ++p;
    if (*p != '-') {
      if (*p < '0' || *p > '9') return 1;
      while (*p >= '0' && *p <= '9') {
        if (start >= cutoff && (start > cutoff || *p - '0' > cutlim)) return 1;
        start = start * 10 + (*p++ - '0');
      }
      while (*p == ' ') ++p;
      if (*p++ != '-') return 1;
      while (*p == ' ') ++p;
      if (*p == ',' || *p == '\0') {
        end = length;
        goto found;
      }
    } else {
      suffix = true;
      ++p;
    }
    if (*p < '0' || *p > '9') return 1;
    while (*p >= '0' && *p <= '9') {
      if (end >= cutoff && (end > cutoff || *p - '0' > cutlim)) return 1;
      end = end * 10 + (*p++ - '0');
    }
    while (*p == ' ') ++p;
    if (*p != ',' && *p != '\0') return 1;
    if (suffix) {
      start = end < length ? length - end : 0;
      end = length - 1;
    }
    end = end >= length ? length : end + 1;
  found:
    if (start < end) {
      out.push_back({start, end});
      size += end - start;
    } else if (start == 0) {
      return 2;
    }
    if (*p++ != ',') break;
  }
  if (out.empty()) return 1;
  if (size > length) return 2;
  return 0;
}

}  // namespace

std::string http_date(std::int64_t t) {
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::int64_t parse_http_date(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"}) {
    tm = {};
    const char* end = strptime(s.c_str(), format, &tm);
    if (end && *end == '\0') return static_cast<std::int64_t>(timegm(&tm));
  }
  return -1;
}

Response special_response(int status, const RequestFacts& f) {
  Response r;
  r.status = (status == 494 || status == 497) ? 400 : status;
  std::string page = error_page(status);
  bool padding = (f.msie || f.chrome) && f.http_version >= 1000 && status >= 400 && !page.empty();
  if (!page.empty()) {
    r.content_type = "text/html";
    r.content_length = static_cast<long long>(page.size() + kTail.size() + (padding ? 6 * kPaddingLine.size() : 0));
  } else {
    r.content_length = 0;
  }
  r.header_only = f.method == Method::head;
  if (r.header_only || page.empty()) return r;
  std::string pad;
  for (int i = 0; i < 6 && padding; ++i) pad += kPaddingLine;
  r.body = page + std::string(kTail) + pad;
  std::vector<std::string_view> pieces{page, kTail};
  if (padding) pieces.push_back(pad);
  maybe_gzip(r, f, pieces);
  return r;
}

Response static_response(const RequestFacts& f) {
  // try_files $uri $uri/ =404, then index (for "/") or the static module.
  std::string uri = f.uri;
  bool directory = uri == "/";
  if (!directory && (uri.empty() || uri.back() == '/' || !find_cover_page(uri))) return special_response(404, f);
  bool get_head_post = f.method == Method::get || f.method == Method::head || f.method == Method::post;
  if (directory) {
    if (!get_head_post) return special_response(403, f);  // "directory index ... is forbidden"
    uri = "/index.html";
  }
  if (!get_head_post || f.method == Method::post) return special_response(405, f);
  const CoverPage* page = find_cover_page(uri);
  Response r;
  r.content_type = std::string(page->content_type);
  r.content_length = static_cast<long long>(page->body.size());
  auto mtime = cover_modified_time();
  r.last_modified = http_date(mtime);
  std::string etag = "\"" + hex(mtime) + "-" + hex(r.content_length) + "\"";
  r.headers.emplace_back("ETag", etag);
  r.header_only = f.method == Method::head;
  r.body = std::string(page->body);

  // not_modified filter
  if (!f.if_unmodified_since.empty()) {
    auto t = parse_http_date(f.if_unmodified_since);
    if (!(t >= mtime)) return special_response(412, f);
  }
  if (!f.if_match.empty() && !if_match(f.if_match, etag, false)) return special_response(412, f);
  if (!f.if_modified_since.empty() || !f.if_none_match.empty()) {
    bool modified = false;
    if (!f.if_modified_since.empty() && parse_http_date(f.if_modified_since) != mtime) modified = true;
    if (!modified && !f.if_none_match.empty() && !if_match(f.if_none_match, etag, true)) modified = true;
    if (!modified) {
      r.status = 304;
      r.content_type.clear();
      r.content_length = -1;
      r.body.clear();
      r.header_only = true;
      return r;
    }
  }
  // gzip filter (before the range filter: a gzipped answer has no ranges)
  maybe_gzip(r, f, {page->body});
  if (r.headers.back().first == "Content-Encoding") return r;
  // range filter
  if (f.http_version >= 1000) {
    bool apply = f.range.size() >= 7 && (f.range.compare(0, 6, "bytes=") == 0 || f.range.compare(0, 6, "BYTES=") == 0);
    if (apply && !f.if_range.empty()) {
      if (f.if_range.size() >= 2 && f.if_range.back() == '"') {
        apply = f.if_range == etag;
      } else {
        apply = parse_http_date(f.if_range) == mtime;
      }
    }
    std::vector<Range> ranges;
    int parsed = apply ? parse_ranges(f.range, r.content_length, ranges) : 2;
    if (parsed == 1) {
      Response e = special_response(416, f);
      e.headers.emplace_back("Content-Range", "bytes */" + std::to_string(r.content_length));
      return e;
    }
    if (parsed == 0 && ranges.size() == 1) {
      r.status = 206;
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(ranges[0].start) + "-" +
                                                  std::to_string(ranges[0].end - 1) + "/" +
                                                  std::to_string(r.content_length));
      r.content_length = ranges[0].end - ranges[0].start;
      if (!r.header_only)
        r.body = r.body.substr(static_cast<std::size_t>(ranges[0].start), static_cast<std::size_t>(r.content_length));
      return r;
    }
    // Several ranges (multipart) are answered whole here: nginx's multipart boundary is a counter
    // of its own that no prober can predict either way.
    r.headers.emplace_back("Accept-Ranges", "bytes");
  }
  return r;
}

std::string serialize_http1(const Response& r, int http_version, bool keepalive, std::string_view date) {
  std::string body;
  if (!r.header_only) {
    if (r.chunked) {
      body = hex(static_cast<long long>(r.body.size())) + "\r\n" + r.body + "\r\n0\r\n\r\n";
      if (r.body.empty()) body = "0\r\n\r\n";
    } else {
      body = r.body;
    }
  }
  if (http_version < 1000) return body;
  std::string out = "HTTP/1.1 " + std::string(status_line(r.status)) + "\r\nServer: " + std::string(kServerToken) +
                    "\r\nDate: " + std::string(date) + "\r\n";
  if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
  if (r.content_length >= 0) out += "Content-Length: " + std::to_string(r.content_length) + "\r\n";
  if (!r.last_modified.empty() && (r.status == 200 || r.status == 206 || r.status == 304))
    out += "Last-Modified: " + r.last_modified + "\r\n";
  if (r.chunked) out += "Transfer-Encoding: chunked\r\n";
  out += keepalive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  return out + body;
}

std::vector<std::pair<std::string, std::string>> h2_headers(const Response& r, std::string_view date) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back(":status", std::to_string(r.status));
  out.emplace_back("server", std::string(kServerToken));
  out.emplace_back("date", std::string(date));
  if (!r.content_type.empty()) out.emplace_back("content-type", r.content_type);
  if (r.content_length >= 0) out.emplace_back("content-length", std::to_string(r.content_length));
  if (!r.last_modified.empty() && (r.status == 200 || r.status == 206 || r.status == 304))
    out.emplace_back("last-modified", r.last_modified);
  for (const auto& [name, value] : r.headers) {
    std::string lower = name;
    for (auto& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.emplace_back(lower, value);
  }
  return out;
}

}  // namespace culvert::cover
