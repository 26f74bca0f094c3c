#include "link/share_link.h"

#include <charconv>
#include <cstring>

#include "crypto/crypto.h"

namespace culvert {
namespace {

constexpr std::string_view kScheme = "culvert://";

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == ':' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (is_unreserved(static_cast<char>(c))) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
    if (ec != std::errc() || p != text.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

std::string format_share_link(const ShareLink& link) {
  Bytes cred(link.credential.key_id.begin(), link.credential.key_id.end());
  cred.insert(cred.end(), link.credential.secret.begin(), link.credential.secret.end());
  std::string out(kScheme);
  out += crypto::base64url_encode(cred);
  out += '@';
  if (link.host.find(':') != std::string::npos) {
    out += '[' + link.host + ']';
  } else {
    out += link.host;
  }
  out += ':' + std::to_string(link.port);
  out += "?tr=" + percent_encode(link.transport);
  if (!link.sni.empty()) out += "&sni=" + percent_encode(link.sni);
  if (link.pin) out += "&pin=" + crypto::base64url_encode(*link.pin);
  if (link.server_key) out += "&pk=" + crypto::base64url_encode(*link.server_key);
  if (!link.label.empty()) out += '#' + percent_encode(link.label);
  return out;
}

Result<ShareLink> parse_share_link(std::string_view text) {
  if (text.size() > kMaxLinkLength || text.substr(0, kScheme.size()) != kScheme) return fail(Errc::bad_link);
  text.remove_prefix(kScheme.size());
  ShareLink link;

  if (auto hash = text.find('#'); hash != std::string_view::npos) {
    auto label = percent_decode(text.substr(hash + 1));
    if (!label || label->size() > 256) return fail(Errc::bad_link);
    link.label = *label;
    text = text.substr(0, hash);
  }
  std::string_view query;
  if (auto q = text.find('?'); q != std::string_view::npos) {
    query = text.substr(q + 1);
    text = text.substr(0, q);
  }
  auto at = text.find('@');
  if (at == std::string_view::npos) return fail(Errc::bad_link);
  auto cred = crypto::base64url_decode(text.substr(0, at));
  if (!cred || cred->size() != 40) return fail(Errc::bad_link);
  std::memcpy(link.credential.key_id.data(), cred->data(), 8);
  std::memcpy(link.credential.secret.data(), cred->data() + 8, 32);

  std::string_view authority = text.substr(at + 1);
  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos || close + 1 >= authority.size() || authority[close + 1] != ':')
      return fail(Errc::bad_link);
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) return fail(Errc::bad_link);
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail(Errc::bad_link);
  }
  unsigned port_value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), port_value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || port_value == 0 || port_value > 65535)
    return fail(Errc::bad_link);
  if (!valid_host(host)) return fail(Errc::bad_link);
  link.host = std::string(host);
  link.port = static_cast<std::uint16_t>(port_value);

  bool have_transport = false;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) return fail(Errc::bad_link);
    std::string_view key = pair.substr(0, eq);
    auto value = percent_decode(pair.substr(eq + 1));
    if (!value) return fail(Errc::bad_link);
    if (key == "tr") {
      if (*value != "tls" && *value != "borrow") return fail(Errc::unsupported);
      link.transport = *value;
      have_transport = true;
    } else if (key == "sni") {
      if (!valid_host(*value)) return fail(Errc::bad_link);
      link.sni = *value;
    } else if (key == "pin" || key == "pk") {
      auto bytes = crypto::base64url_decode(*value);
      if (!bytes || bytes->size() != 32) return fail(Errc::bad_link);
      std::array<std::uint8_t, 32> out{};
      std::memcpy(out.data(), bytes->data(), 32);
      (key == "pin" ? link.pin : link.server_key) = out;
    }
    // Unknown keys are ignored so that newer servers can add optional fields.
  }
  if (!have_transport) return fail(Errc::bad_link);
  // The borrowed transport cannot work without the server key and the borrowed name.
  if (link.transport == "borrow" && (!link.server_key || link.sni.empty())) return fail(Errc::bad_link);
  return link;
}

}  // namespace culvert
