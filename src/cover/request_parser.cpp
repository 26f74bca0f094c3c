#include "cover/request_parser.h"

#include <cstring>

namespace culvert::cover {
namespace {

constexpr std::uint8_t CR = '\r';
constexpr std::uint8_t LF = '\n';

// Bytes that need no special care in a URI path (nginx's `usual` table): printable ASCII but for
// space, '"', '#', '%', '.', '/', '?' (and '+' is treated by itself), and every byte >= 0x80.
bool usual(std::uint8_t ch) {
  static const std::uint32_t table[8] = {0x00000000, 0x7fff37d6, 0xffffffff, 0x7fffffff,
                                         0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
  return table[ch >> 5] & (1u << (ch & 0x1f));
}

bool method_char(std::uint8_t ch) { return (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '-'; }

Method method_of(const std::uint8_t* m, std::size_t n) {
  auto is = [&](const char* name) { return std::strlen(name) == n && std::memcmp(m, name, n) == 0; };
  // nginx compares only some of the letters of 4-letter methods with 'O' second: POST, COPY,
  // MOVE, LOCK match "P?ST", "C?PY", "M?VE", "L?CK".
  if (n == 4 && m[1] == 'O') {
    if (m[0] == 'P' && m[2] == 'S' && m[3] == 'T') return Method::post;
    if (m[0] == 'C' && m[2] == 'P' && m[3] == 'Y') return Method::copy;
    if (m[0] == 'M' && m[2] == 'V' && m[3] == 'E') return Method::move;
    if (m[0] == 'L' && m[2] == 'C' && m[3] == 'K') return Method::lock;
    return Method::unknown;
  }
  if (is("GET")) return Method::get;
  if (is("PUT")) return Method::put;
  if (is("HEAD")) return Method::head;
  if (is("MKCOL")) return Method::mkcol;
  if (is("PATCH")) return Method::patch;
  if (is("TRACE")) return Method::trace;
  if (is("DELETE")) return Method::delete_;
  if (is("UNLOCK")) return Method::unlock;
  if (is("OPTIONS")) return Method::options;
  if (is("CONNECT")) return Method::connect;
  if (is("PROPFIND")) return Method::propfind;
  if (is("PROPPATCH")) return Method::proppatch;
  return Method::unknown;
}

enum RequestState {
  sw_start = 0,
  sw_method,
  sw_spaces_before_uri,
  sw_schema,
  sw_schema_slash,
  sw_schema_slash_slash,
  sw_host_start,
  sw_host,
  sw_host_end,
  sw_host_ip_literal,
  sw_port,
  sw_after_slash_in_uri,
  sw_check_uri,
  sw_uri,
  sw_http_09,
  sw_http_H,
  sw_http_HT,
  sw_http_HTT,
  sw_http_HTTP,
  sw_first_major_digit,
  sw_major_digit,
  sw_first_minor_digit,
  sw_minor_digit,
  sw_spaces_after_digit,
  sw_almost_done
};

void shift(std::size_t& offset, std::size_t old_start) {
  if (offset != kNone) offset -= old_start;
}

}  // namespace

ParseResult RequestLineParser::parse(const std::uint8_t* b, std::size_t& pos, std::size_t last) {
  int s = state;
  std::size_t p = pos;
  for (; p < last; ++p) {
    std::uint8_t ch = b[p];
    switch (s) {
      case sw_start:
        request_start = p;
        if (ch == CR || ch == LF) break;
        if (!method_char(ch)) return ParseResult::invalid_method;
        s = sw_method;
        break;
      case sw_method:
        if (ch == ' ') {
          method_end = p - 1;
          method = method_of(b + request_start, p - request_start);
          s = sw_spaces_before_uri;
          break;
        }
        if (!method_char(ch)) return ParseResult::invalid_method;
        break;
      case sw_spaces_before_uri: {
        if (ch == '/') {
          uri_start = p;
          s = sw_after_slash_in_uri;
          break;
        }
        std::uint8_t c = ch | 0x20;
        if (c >= 'a' && c <= 'z') {
          schema_start = p;
          s = sw_schema;
          break;
        }
        if (ch == ' ') break;
        return ParseResult::invalid_request;
      }
      case sw_schema: {
        std::uint8_t c = ch | 0x20;
        if ((c >= 'a' && c <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.') break;
        if (ch == ':') {
          schema_end = p;
          s = sw_schema_slash;
          break;
        }
        return ParseResult::invalid_request;
      }
      case sw_schema_slash:
        if (ch != '/') return ParseResult::invalid_request;
        s = sw_schema_slash_slash;
        break;
      case sw_schema_slash_slash:
        if (ch != '/') return ParseResult::invalid_request;
        s = sw_host_start;
        break;
      case sw_host_start:
      case sw_host:
      case sw_host_end: {
        if (s == sw_host_start) {
          host_start = p;
          if (ch == '[') {
            s = sw_host_ip_literal;
            break;
          }
          s = sw_host;
        }
        if (s == sw_host) {
          std::uint8_t c = ch | 0x20;
          if ((c >= 'a' && c <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-') break;
        }
        host_end = p;
        switch (ch) {
          case ':':
            s = sw_port;
            break;
          case '/':
            uri_start = p;
            s = sw_after_slash_in_uri;
            break;
          case '?':
            uri_start = p;
            args_start = p + 1;
            empty_path_in_uri = true;
            s = sw_uri;
            break;
          case ' ':
            // nginx points the URI at the "/" of "://".
            uri_start = schema_end + 1;
            uri_end = schema_end + 2;
            s = sw_http_09;
            break;
          default:
            return ParseResult::invalid_request;
        }
        break;
      }
      case sw_host_ip_literal: {
        if (ch >= '0' && ch <= '9') break;
        std::uint8_t c = ch | 0x20;
        if (c >= 'a' && c <= 'z') break;
        switch (ch) {
          case ':':
            break;
          case ']':
            s = sw_host_end;
            break;
          case '-':
          case '.':
          case '_':
          case '~':
          case '!':
          case '$':
          case '&':
          case '\'':
          case '(':
          case ')':
          case '*':
          case '+':
          case ',':
          case ';':
          case '=':
            break;
          default:
            return ParseResult::invalid_request;
        }
        break;
      }
      case sw_port:
        if (ch >= '0' && ch <= '9') break;
        switch (ch) {
          case '/':
            port_end = p;
            uri_start = p;
            s = sw_after_slash_in_uri;
            break;
          case '?':
            port_end = p;
            uri_start = p;
            args_start = p + 1;
            empty_path_in_uri = true;
            s = sw_uri;
            break;
          case ' ':
            port_end = p;
            uri_start = schema_end + 1;
            uri_end = schema_end + 2;
            s = sw_http_09;
            break;
          default:
            return ParseResult::invalid_request;
        }
        break;
      case sw_after_slash_in_uri:
        if (usual(ch)) {
          s = sw_check_uri;
          break;
        }
        switch (ch) {
          case ' ':
            uri_end = p;
            s = sw_http_09;
            break;
          case CR:
            uri_end = p;
            http_minor = 9;
            s = sw_almost_done;
            break;
          case LF:
            uri_end = p;
            http_minor = 9;
            goto done;
          case '.':
          case '/':
          case '#':
            complex_uri = true;
            s = sw_uri;
            break;
          case '%':
            quoted_uri = true;
            s = sw_uri;
            break;
          case '?':
            args_start = p + 1;
            s = sw_uri;
            break;
          case '+':
            plus_in_uri = true;
            break;
          default:
            if (ch < 0x20 || ch == 0x7f) return ParseResult::invalid_request;
            s = sw_check_uri;
            break;
        }
        break;
      case sw_check_uri:
        if (usual(ch)) break;
        switch (ch) {
          case '/':
            uri_ext = kNone;
            s = sw_after_slash_in_uri;
            break;
          case '.':
            uri_ext = p + 1;
            break;
          case ' ':
            uri_end = p;
            s = sw_http_09;
            break;
          case CR:
            uri_end = p;
            http_minor = 9;
            s = sw_almost_done;
            break;
          case LF:
            uri_end = p;
            http_minor = 9;
            goto done;
          case '%':
            quoted_uri = true;
            s = sw_uri;
            break;
          case '?':
            args_start = p + 1;
            s = sw_uri;
            break;
          case '#':
            complex_uri = true;
            s = sw_uri;
            break;
          case '+':
            plus_in_uri = true;
            break;
          default:
            if (ch < 0x20 || ch == 0x7f) return ParseResult::invalid_request;
            break;
        }
        break;
      case sw_uri:
        if (usual(ch)) break;
        switch (ch) {
          case ' ':
            uri_end = p;
            s = sw_http_09;
            break;
          case CR:
            uri_end = p;
            http_minor = 9;
            s = sw_almost_done;
            break;
          case LF:
            uri_end = p;
            http_minor = 9;
            goto done;
          case '#':
            complex_uri = true;
            break;
          default:
            if (ch < 0x20 || ch == 0x7f) return ParseResult::invalid_request;
            break;
        }
        break;
      case sw_http_09:
        switch (ch) {
          case ' ':
            break;
          case CR:
            http_minor = 9;
            s = sw_almost_done;
            break;
          case LF:
            http_minor = 9;
            goto done;
          case 'H':
            http_protocol = p;
            s = sw_http_H;
            break;
          default:
            return ParseResult::invalid_request;
        }
        break;
      case sw_http_H:
        if (ch != 'T') return ParseResult::invalid_request;
        s = sw_http_HT;
        break;
      case sw_http_HT:
        if (ch != 'T') return ParseResult::invalid_request;
        s = sw_http_HTT;
        break;
      case sw_http_HTT:
        if (ch != 'P') return ParseResult::invalid_request;
        s = sw_http_HTTP;
        break;
      case sw_http_HTTP:
        if (ch != '/') return ParseResult::invalid_request;
        s = sw_first_major_digit;
        break;
      case sw_first_major_digit:
        if (ch < '1' || ch > '9') return ParseResult::invalid_request;
        http_major = ch - '0';
        if (http_major > 1) return ParseResult::invalid_version;
        s = sw_major_digit;
        break;
      case sw_major_digit:
        if (ch == '.') {
          s = sw_first_minor_digit;
          break;
        }
        if (ch < '0' || ch > '9') return ParseResult::invalid_request;
        http_major = http_major * 10 + (ch - '0');
        if (http_major > 1) return ParseResult::invalid_version;
        break;
      case sw_first_minor_digit:
        if (ch < '0' || ch > '9') return ParseResult::invalid_request;
        http_minor = ch - '0';
        s = sw_minor_digit;
        break;
      case sw_minor_digit:
        if (ch == CR) {
          s = sw_almost_done;
          break;
        }
        if (ch == LF) goto done;
        if (ch == ' ') {
          s = sw_spaces_after_digit;
          break;
        }
        if (ch < '0' || ch > '9') return ParseResult::invalid_request;
        if (http_minor > 99) return ParseResult::invalid_request;
        http_minor = http_minor * 10 + (ch - '0');
        break;
      case sw_spaces_after_digit:
        switch (ch) {
          case ' ':
            break;
          case CR:
            s = sw_almost_done;
            break;
          case LF:
            goto done;
          default:
            return ParseResult::invalid_request;
        }
        break;
      case sw_almost_done:
        request_end = p - 1;
        if (ch == LF) goto done;
        return ParseResult::invalid_request;
    }
  }
  pos = p;
  state = s;
  return ParseResult::again;

done:
  pos = p + 1;
  if (request_end == kNone) request_end = p;
  state = sw_start;
  if (http_version() == 9 && method != Method::get) return ParseResult::invalid_09_method;
  return ParseResult::ok;
}

void RequestLineParser::relocate(std::size_t old_start) {
  for (auto* o : {&request_start, &request_end, &method_end, &uri_start, &uri_end, &args_start, &uri_ext, &schema_start,
                  &schema_end, &host_start, &host_end, &port_end, &http_protocol})
    shift(*o, old_start);
}

ParseResult HeaderLineParser::parse(const std::uint8_t* b, std::size_t& pos, std::size_t last) {
  enum {
    h_start = 0,
    h_name,
    h_space_before_value,
    h_value,
    h_space_after_value,
    h_ignore_line,
    h_almost_done,
    h_header_almost_done
  };
  auto lowcase = [](std::uint8_t ch) -> bool {
    return ch == '-' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
  };
  int s = state;
  std::size_t p = pos;
  for (; p < last; ++p) {
    std::uint8_t ch = b[p];
    switch (s) {
      case h_start:
        name_start = p;
        invalid_header = false;
        if (ch == CR) {
          value_end = p;
          s = h_header_almost_done;
          break;
        }
        if (ch == LF) {
          value_end = p;
          goto header_done;
        }
        s = h_name;
        if (lowcase(ch)) break;
        if (ch == '_') {  // underscores_in_headers off
          invalid_header = true;
          break;
        }
        if (ch <= 0x20 || ch == 0x7f || ch == ':') {
          value_end = p;
          return ParseResult::invalid_header;
        }
        invalid_header = true;
        break;
      case h_name:
        if (lowcase(ch)) break;
        if (ch == '_') {
          invalid_header = true;
          break;
        }
        if (ch == ':') {
          name_end = p;
          s = h_space_before_value;
          break;
        }
        if (ch == CR) {
          name_end = value_start = value_end = p;
          s = h_almost_done;
          break;
        }
        if (ch == LF) {
          name_end = value_start = value_end = p;
          goto done;
        }
        if (ch <= 0x20 || ch == 0x7f) {
          value_end = p;
          return ParseResult::invalid_header;
        }
        invalid_header = true;
        break;
      case h_space_before_value:
        switch (ch) {
          case ' ':
            break;
          case CR:
            value_start = value_end = p;
            s = h_almost_done;
            break;
          case LF:
            value_start = value_end = p;
            goto done;
          case '\0':
            value_end = p;
            return ParseResult::invalid_header;
          default:
            value_start = p;
            s = h_value;
            break;
        }
        break;
      case h_value:
        switch (ch) {
          case ' ':
            value_end = p;
            s = h_space_after_value;
            break;
          case CR:
            value_end = p;
            s = h_almost_done;
            break;
          case LF:
            value_end = p;
            goto done;
          case '\0':
            value_end = p;
            return ParseResult::invalid_header;
        }
        break;
      case h_space_after_value:
        switch (ch) {
          case ' ':
            break;
          case CR:
            s = h_almost_done;
            break;
          case LF:
            goto done;
          case '\0':
            value_end = p;
            return ParseResult::invalid_header;
          default:
            s = h_value;
            break;
        }
        break;
      case h_ignore_line:
        if (ch == LF) s = h_start;
        break;
      case h_almost_done:
        if (ch == LF) goto done;
        if (ch == CR) break;
        return ParseResult::invalid_header;
      case h_header_almost_done:
        if (ch == LF) goto header_done;
        return ParseResult::invalid_header;
    }
  }
  pos = p;
  state = s;
  return ParseResult::again;
done:
  pos = p + 1;
  state = h_start;
  return ParseResult::ok;
header_done:
  pos = p + 1;
  state = h_start;
  return ParseResult::header_done;
}

void HeaderLineParser::relocate(std::size_t old_start) {
  for (auto* o : {&name_start, &name_end, &value_start, &value_end}) shift(*o, old_start);
}

bool validate_host(std::string_view host, std::string& out) {
  std::size_t dot_pos = host.size();
  std::size_t host_len = host.size();
  enum { usual_, literal, rest } state = usual_;
  for (std::size_t i = 0; i < host.size(); ++i) {
    unsigned char ch = static_cast<unsigned char>(host[i]);
    switch (ch) {
      case '.':
        if (dot_pos == i - 1) return false;
        dot_pos = i;
        break;
      case ':':
        if (state == usual_) {
          host_len = i;
          state = rest;
        }
        break;
      case '[':
        if (i == 0) state = literal;
        break;
      case ']':
        if (state == literal) {
          host_len = i + 1;
          state = rest;
        }
        break;
      default:
        if (ch == '/' || ch <= 0x20 || ch == 0x7f) return false;
        break;
    }
  }
  if (host_len > 0 && dot_pos == host_len - 1) host_len--;
  if (host_len == 0) return false;
  out.assign(host.substr(0, host_len));
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return true;
}

bool normalize_uri(std::string_view in, std::string& out) {
  enum { s_usual, s_slash, s_dot, s_dot_dot, s_quoted, s_quoted_second } state = s_usual, quoted_state = s_usual;
  out.clear();
  std::uint8_t decoded = 0;
  // Walks back over the last path segment after "/..": false past the root.
  auto up = [&]() {
    if (out.size() < 4) return false;
    std::size_t u = out.size() - 4;
    for (;;) {
      if (out[u] == '/') {
        out.resize(u + 1);
        return true;
      }
      if (u == 0) return false;
      --u;
    }
  };
  std::size_t i = 0;
  // nginx reads one byte past the URI (a space or line end) but never acts on it; 0 stands in.
  auto next = [&]() -> std::uint8_t { return i < in.size() ? static_cast<std::uint8_t>(in[i++]) : (i++, 0); };
  std::uint8_t ch = next();
  while (i <= in.size()) {
    switch (state) {
      case s_usual:
        if (usual(ch)) {
          out += static_cast<char>(ch);
          ch = next();
          break;
        }
        switch (ch) {
          case '/':
            state = s_slash;
            out += '/';
            break;
          case '%':
            quoted_state = state;
            state = s_quoted;
            break;
          case '?':
          case '#':
            return true;
          default:
            out += static_cast<char>(ch);
            break;
        }
        ch = next();
        break;
      case s_slash:
        if (usual(ch)) {
          state = s_usual;
          out += static_cast<char>(ch);
          ch = next();
          break;
        }
        switch (ch) {
          case '/':
            break;  // merge_slashes
          case '.':
            state = s_dot;
            out += '.';
            break;
          case '%':
            quoted_state = state;
            state = s_quoted;
            break;
          case '?':
          case '#':
            return true;
          default:
            state = s_usual;
            out += static_cast<char>(ch);
            break;
        }
        ch = next();
        break;
      case s_dot:
        if (usual(ch)) {
          state = s_usual;
          out += static_cast<char>(ch);
          ch = next();
          break;
        }
        switch (ch) {
          case '/':
            state = s_slash;
            out.pop_back();
            break;
          case '.':
            state = s_dot_dot;
            out += '.';
            break;
          case '%':
            quoted_state = state;
            state = s_quoted;
            break;
          case '?':
          case '#':
            out.pop_back();
            return true;
          default:
            state = s_usual;
            out += static_cast<char>(ch);
            break;
        }
        ch = next();
        break;
      case s_dot_dot:
        if (usual(ch)) {
          state = s_usual;
          out += static_cast<char>(ch);
          ch = next();
          break;
        }
        switch (ch) {
          case '/':
          case '?':
          case '#':
            if (!up()) return false;
            if (ch != '/') return true;
            state = s_slash;
            break;
          case '%':
            quoted_state = state;
            state = s_quoted;
            break;
          default:
            state = s_usual;
            out += static_cast<char>(ch);
            break;
        }
        ch = next();
        break;
      case s_quoted: {
        if (ch >= '0' && ch <= '9') {
          decoded = static_cast<std::uint8_t>(ch - '0');
          state = s_quoted_second;
          ch = next();
          break;
        }
        std::uint8_t c = ch | 0x20;
        if (c >= 'a' && c <= 'f') {
          decoded = static_cast<std::uint8_t>(c - 'a' + 10);
          state = s_quoted_second;
          ch = next();
          break;
        }
        return false;
      }
      case s_quoted_second: {
        if (ch >= '0' && ch <= '9') {
          ch = static_cast<std::uint8_t>((decoded << 4) + (ch - '0'));
          if (ch == '%' || ch == '#') {
            state = s_usual;
            out += static_cast<char>(ch);
            ch = next();
            break;
          }
          if (ch == '\0') return false;
          state = quoted_state;
          break;
        }
        std::uint8_t c = ch | 0x20;
        if (c >= 'a' && c <= 'f') {
          ch = static_cast<std::uint8_t>((decoded << 4) + (c - 'a') + 10);
          if (ch == '?') {
            state = s_usual;
            out += static_cast<char>(ch);
            ch = next();
            break;
          }
          state = quoted_state;
          break;
        }
        return false;
      }
    }
  }
  if (state == s_quoted || state == s_quoted_second) return false;
  if (state == s_dot) {
    out.pop_back();
  } else if (state == s_dot_dot) {
    if (!up()) return false;
  }
  return true;
}

}  // namespace culvert::cover
