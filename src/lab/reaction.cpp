#include "lab/reaction.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "crypto/crypto.h"

namespace culvert::lab {
namespace {

std::string hex(ByteSpan b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string hex16(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return buf;
}

std::uint32_t be(const std::uint8_t* p, int n) {
  std::uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}

// Everything in a ServerHello handshake message but its random values.
std::string server_hello_shape(const std::uint8_t* p, std::size_t n) {
  if (n < 4 + 2 + 32 + 1) return "server-hello short";
  std::size_t pos = 6 + 32;
  std::string out = "server-hello v=" + hex16(be(p + 4, 2));
  std::size_t sid = p[pos++];
  out += " sid=" + std::to_string(sid);
  pos += sid;
  if (pos + 5 > n) return out + " short";
  out += " cipher=" + hex16(be(p + pos, 2)) + " comp=" + std::to_string(p[pos + 2]);
  pos += 5;
  out += " ext=";
  while (pos + 4 <= n) {
    auto len = be(p + pos + 2, 2);
    out += hex16(be(p + pos, 2)) + ":" + std::to_string(len) + ",";
    pos += 4 + len;
  }
  return out;
}

// Plaintext handshake records: each message as an item (ServerHello by shape, signed messages
// without their length).
void handshake_items(ByteSpan body, std::vector<std::string>& out) {
  std::size_t pos = 0;
  while (pos + 4 <= body.size()) {
    unsigned type = body[pos];
    std::size_t len = be(body.data() + pos + 1, 3);
    if (pos + 4 + len > body.size()) {
      out.push_back("hs:" + std::to_string(type) + ":partial");
      return;
    }
    if (type == 2) {
      out.push_back(server_hello_shape(body.data() + pos, 4 + len));
    } else if (type == 12 || type == 15) {
      out.push_back("hs:" + std::to_string(type) + ":sig");
    } else {
      out.push_back("hs:" + std::to_string(type) + ":" + std::to_string(len));
    }
    pos += 4 + len;
  }
}

bool looks_like_tls(ByteSpan b) { return b.size() >= 3 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03; }

std::vector<std::string> tls_items(ByteSpan b) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos + 5 <= b.size()) {
    unsigned type = b[pos];
    std::size_t len = be(b.data() + pos + 3, 2);
    if (type < 0x14 || type > 0x17 || b[pos + 1] != 0x03) break;
    if (pos + 5 + len > b.size()) {
      out.push_back("partial-record:" + std::to_string(type));
      return out;
    }
    ByteSpan body = b.subspan(pos + 5, len);
    out.push_back("record:" + std::to_string(type) + ":v" + hex16(be(b.data() + pos + 1, 2)));
    if (type == 0x16) {
      handshake_items(body, out);
    } else if (type == 0x15 && len == 2) {
      out.push_back("alert:" + std::to_string(body[0]) + ":" + std::to_string(body[1]));
    } else if (type == 0x14) {
      out.push_back("ccs:" + hex(body));
    } else {
      out.push_back("sealed:" + std::to_string(len));
    }
    pos += 5 + len;
  }
  if (pos < b.size()) out.push_back("bytes:" + hex(b.subspan(pos)));
  return out;
}

// HTTP/1.x text: the Date headers' values blanked, then the bytes.
std::vector<std::string> http1_items(ByteSpan b) {
  std::string s(as_chars(b));
  for (std::size_t at = 0; (at = s.find("\r\nDate: ", at)) != std::string::npos;) {
    auto end = s.find("\r\n", at + 2);
    if (end == std::string::npos) break;
    s.replace(at + 8, end - at - 8, "*");
    at += 8;
  }
  std::vector<std::string> out;
  // One item per line, so a report names the first line that differs.
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find('\n', start);
    if (end == std::string::npos) end = s.size() - 1;
    out.push_back(s.substr(start, end - start + 1));
    start = end + 1;
  }
  return out;
}

std::string header_list(nghttp2_hd_inflater* inflater, ByteSpan block) {
  std::string out = "[";
  const std::uint8_t* in = block.data();
  std::size_t left = block.size();
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    auto used = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
    if (used < 0) return out + "undecodable]";
    in += used;
    left -= static_cast<std::size_t>(used);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      std::string name(reinterpret_cast<const char*>(nv.name), nv.namelen);
      std::string value(reinterpret_cast<const char*>(nv.value), nv.valuelen);
      if (name == "date") value = "*";
      out += name + ": " + value + "; ";
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(inflater);
      break;
    }
    if (used == 0 && left == 0) break;
  }
  return out + "]";
}

std::vector<std::string> h2_items(ByteSpan b) {
  std::vector<std::string> out;
  nghttp2_hd_inflater* inflater = nullptr;
  nghttp2_hd_inflate_new(&inflater);
  std::size_t pos = 0;
  Bytes block;  // HEADERS + CONTINUATION fragments
  while (pos + 9 <= b.size()) {
    std::size_t len = be(b.data() + pos, 3);
    unsigned type = b[pos + 3];
    unsigned flags = b[pos + 4];
    std::uint32_t stream = be(b.data() + pos + 5, 4) & 0x7fffffff;
    if (pos + 9 + len > b.size()) {
      out.push_back("partial-frame:" + std::to_string(type));
      pos = b.size();
      break;
    }
    ByteSpan payload = b.subspan(pos + 9, len);
    std::string item = "frame:" + std::to_string(type) + " s=" + std::to_string(stream) + " f=" + std::to_string(flags);
    switch (type) {
      case 0x0:  // DATA
        item += " len=" + std::to_string(len) + " sha=" + hex(crypto::sha256(payload)).substr(0, 16);
        break;
      case 0x1:    // HEADERS
      case 0x9: {  // CONTINUATION
        std::size_t skip = 0, pad = 0;
        if (type == 0x1 && (flags & 0x8) && len > 0) {
          pad = payload[0];
          skip = 1;
        }
        if (type == 0x1 && (flags & 0x20)) skip += 5;
        if (skip + pad <= len) block.insert(block.end(), payload.begin() + skip, payload.end() - pad);
        if (flags & 0x4) {
          item += " " + header_list(inflater, block);
          block.clear();
        }
        break;
      }
      case 0x4:  // SETTINGS
        item += " [";
        for (std::size_t i = 0; i + 6 <= len; i += 6)
          item += std::to_string(be(payload.data() + i, 2)) + "=" + std::to_string(be(payload.data() + i + 2, 4)) + ",";
        item += "]";
        break;
      default:
        item += " " + hex(payload);
    }
    out.push_back(item);
    pos += 9 + len;
  }
  if (pos < b.size()) out.push_back("bytes:" + hex(b.subspan(pos)));
  nghttp2_hd_inflate_del(inflater);
  return out;
}

bool sealed_lengths_close(const std::string& a, const std::string& b) {
  // An ECDSA signature's DER length varies by a byte or two between handshakes.
  if (!a.starts_with("sealed:") || !b.starts_with("sealed:")) return false;
  long x = std::stol(a.substr(7)), y = std::stol(b.substr(7));
  return std::abs(x - y) <= 3;
}

std::string tls_summary(const TlsFacts& f) {
  std::string s =
      f.version + " " + f.cipher + " alpn=" + f.alpn + " group=" + f.group + " " + f.server_hello + " chain=";
  for (auto c : f.chain) s += std::to_string(c) + ",";
  return s;
}

std::string ticket_summary(const TlsFacts& f) {
  std::string s = std::to_string(f.tickets.size()) + " tickets";
  for (const auto& t : f.tickets) s += " (" + std::to_string(t.lifetime_hint) + " s, " + std::to_string(t.size) + " B)";
  return s;
}

std::string alert_summary(const TlsFacts& f) {
  std::string s;
  for (const auto& a : f.alerts_received) s += a + " ";
  return s.empty() ? "no alerts" : s;
}

}  // namespace

std::string describe(const Reaction& r) {
  std::string s(to_string(r.ending));
  s += " after " + std::to_string(r.elapsed.count()) + " ms, " + std::to_string(r.bytes) + " B";
  return s;
}

std::vector<std::string> normalize_response(ByteSpan response, bool h2) {
  if (response.empty()) return {};
  if (h2) return h2_items(response);
  if (looks_like_tls(response)) return tls_items(response);
  auto text = as_chars(response);
  if (text.starts_with("HTTP/") || text.starts_with("<html>")) return http1_items(response);
  return {"bytes:" + hex(response)};
}

bool same_reaction(const Probe& probe, const Reaction& a, const Reaction& b, std::string& why,
                   std::chrono::milliseconds jitter) {
  if (a.ending != b.ending) {
    why = "ended by " + std::string(to_string(a.ending)) + " vs " + std::string(to_string(b.ending));
    return false;
  }
  if (a.tls && b.tls) {
    auto x = tls_summary(*a.tls), y = tls_summary(*b.tls);
    if (x != y) {
      why = "handshake: " + x + " vs " + y;
      return false;
    }
    x = ticket_summary(*a.tls);
    y = ticket_summary(*b.tls);
    if (x != y) {
      why = "tickets: " + x + " vs " + y;
      return false;
    }
    x = alert_summary(*a.tls);
    y = alert_summary(*b.tls);
    if (x != y) {
      why = "alerts: " + x + " vs " + y;
      return false;
    }
  }
  if (a.ending == Ending::tls_failed) return true;  // nothing was exchanged after it
  bool h2 = a.tls && a.tls->alpn == "h2";
  auto x = normalize_response(a.response, h2);
  auto y = normalize_response(b.response, h2);
  std::size_t n = std::min(x.size(), y.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] == y[i] || sealed_lengths_close(x[i], y[i])) continue;
    auto cut = [](std::string s) { return s.size() > 160 ? s.substr(0, 160) + "..." : s; };
    why = "response item " + std::to_string(i) + ": \"" + cut(x[i]) + "\" vs \"" + cut(y[i]) + "\"";
    return false;
  }
  if (x.size() != y.size()) {
    why = std::to_string(a.bytes) + " vs " + std::to_string(b.bytes) + " bytes back (" + std::to_string(x.size()) +
          " vs " + std::to_string(y.size()) + " items)";
    return false;
  }
  if (a.ending == Ending::fin || a.ending == Ending::rst) {
    // Closes within a quarter of each other (at least `jitter` apart to count), as a prober's
    // timing buckets would place them together.
    auto diff = std::abs(a.elapsed.count() - b.elapsed.count());
    auto allowed = std::max<long>(jitter.count(), std::max(a.elapsed.count(), b.elapsed.count()) / 4);
    if (diff > allowed) {
      why = "closed after " + std::to_string(a.elapsed.count()) + " ms vs " + std::to_string(b.elapsed.count()) + " ms";
      return false;
    }
  }
  (void)probe;
  return true;
}

}  // namespace culvert::lab
