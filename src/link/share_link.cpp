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

std::string_view transport_name(const TransportLink& transport) { return kTransportNames[transport.index()]; }

std::optional<TransportLink> transport_for_name(std::string_view name) {
  if (name == "tls") return TransportLink{TlsLink{}};
  if (name == "borrow") return TransportLink{BorrowLink{}};
  if (name == "cdn") return TransportLink{CdnLink{}};
  return std::nullopt;
}

std::optional<PublicKey> ShareLink::server_key() const {
  if (const auto* borrow = std::get_if<BorrowLink>(&transport)) return borrow->server_key;
  if (const auto* cdn = std::get_if<CdnLink>(&transport)) return cdn->server_key;
  return std::nullopt;
}

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
  out += "?tr=" + std::string(link.transport_name());
  if (!link.sni.empty()) out += "&sni=" + percent_encode(link.sni);
  if (const auto* tls = std::get_if<TlsLink>(&link.transport); tls && tls->pin)
    out += "&pin=" + crypto::base64url_encode(*tls->pin);
  if (auto key = link.server_key()) out += "&pk=" + crypto::base64url_encode(*key);
  if (const auto* cdn = std::get_if<CdnLink>(&link.transport)) {
    out += "&path=" + percent_encode(cdn->path);
    out += "&up=" + percent_encode(cdn->upload);
  }
  if (!link.label.empty()) out += '#' + percent_encode(link.label);
  return out;
}

Result<ShareLink> parse_share_link(std::string_view text, std::string* why) {
  auto bad = [why](std::string reason, Errc e = Errc::bad_link) -> Result<ShareLink> {
    if (why) *why = std::move(reason);
    return fail(e);
  };
  // Pasted links come with white space, quotes or angle brackets around them.
  auto trim = [](std::string_view& t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t' || t.front() == '\n' || t.front() == '\r'))
      t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\n' || t.back() == '\r'))
      t.remove_suffix(1);
  };
  trim(text);
  for (auto [open, close] : {std::pair<std::string_view, std::string_view>{"\"", "\""},
                             {"'", "'"},
                             {"<", ">"},
                             {"\u201c", "\u201d"},
                             {"\u2018", "\u2019"},
                             {"`", "`"}}) {
    if (text.size() >= open.size() + close.size() && text.starts_with(open) && text.ends_with(close)) {
      text = text.substr(open.size(), text.size() - open.size() - close.size());
      trim(text);
    }
  }
  if (text.size() > kMaxLinkLength)
    return bad("the link is longer than any share link (" + std::to_string(text.size()) + " characters)");
  if (text.empty()) return bad("the link is empty");
  if (text.substr(0, kScheme.size()) != kScheme) {
    auto colon = text.find("://");
    if (colon != std::string_view::npos && colon < 16)
      return bad("this is not a culvert:// link (it starts with \"" + std::string(text.substr(0, colon + 3)) + "\")");
    return bad("this is not a culvert:// link (it should start with culvert://)");
  }
  text.remove_prefix(kScheme.size());
  ShareLink link;

  if (auto hash = text.find('#'); hash != std::string_view::npos) {
    auto label = percent_decode(text.substr(hash + 1));
    if (!label || label->size() > 256) return bad("the link's label (after #) is damaged");
    link.label = *label;
    text = text.substr(0, hash);
  }
  std::string_view query;
  bool have_query = false;
  if (auto q = text.find('?'); q != std::string_view::npos) {
    query = text.substr(q + 1);
    text = text.substr(0, q);
    have_query = true;
  }
  auto at = text.find('@');
  if (at == std::string_view::npos) return bad("the link is cut short or damaged: it has no KEY@HOST part");
  auto key = text.substr(0, at);
  auto cred = crypto::base64url_decode(key);
  if (!cred || cred->size() != 40)
    return bad("the link's key has " + std::to_string(key.size()) +
               " characters where a share link has 54: the link was cut or changed");
  std::memcpy(link.credential.key_id.data(), cred->data(), 8);
  std::memcpy(link.credential.secret.data(), cred->data() + 8, 32);

  std::string_view authority = text.substr(at + 1);
  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos || close + 1 >= authority.size() || authority[close + 1] != ':')
      return bad("the server address is cut short: an IPv6 address needs [ADDRESS]:PORT");
    host = authority.substr(1, close - 1);
    port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) return bad("the server address has no port: the link is cut short");
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("an IPv6 server address must be in brackets");
  }
  unsigned port_value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), port_value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || port_value == 0 || port_value > 65535)
    return bad("the server port \"" + std::string(port) + "\" is not a number from 1 to 65535");
  if (!valid_host(host)) return bad("the server name \"" + std::string(host) + "\" is not a host name or address");
  link.host = std::string(host);
  link.port = static_cast<std::uint16_t>(port_value);

  bool have_transport = false;
  std::optional<PublicKey> pin, server_key;
  std::optional<std::string> path, upload;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) return bad("the link's options are damaged near \"" + std::string(pair) + "\"");
    std::string_view name = pair.substr(0, eq);
    auto value = percent_decode(pair.substr(eq + 1));
    if (!value) return bad("the link's " + std::string(name) + "= option is damaged");
    if (name == "tr") {
      auto transport = transport_for_name(*value);
      if (!transport)
        return bad("the link's transport \"" + *value +
                       "\" is not one this client knows (tls, borrow, cdn): update the client",
                   Errc::unsupported);
      link.transport = std::move(*transport);
      have_transport = true;
    } else if (name == "sni") {
      if (!valid_host(*value)) return bad("the link's sni= is not a host name");
      link.sni = *value;
    } else if (name == "pin" || name == "pk") {
      auto bytes = crypto::base64url_decode(*value);
      if (!bytes || bytes->size() != 32) return bad("the link's " + std::string(name) + "= is damaged or cut short");
      PublicKey out{};
      std::memcpy(out.data(), bytes->data(), 32);
      (name == "pin" ? pin : server_key) = out;
    } else if (name == "path") {
      if (value->empty() || value->front() != '/' || value->size() > 200 || value->back() == '/')
        return bad("the link's path= is not a path such as /abc");
      path = *value;
    } else if (name == "up") {
      if (*value != "packet" && *value != "stream") return bad("the link's up= is neither packet nor stream");
      upload = *value;
    }
    // Unknown keys are ignored so that newer servers can add optional fields.
  }
  if (!have_transport)
    return bad(have_query ? "the link has no tr= (transport): it was cut short or changed"
                          : "the link is cut short: its ?tr=... part is missing");
  if (auto* tls = std::get_if<TlsLink>(&link.transport)) tls->pin = pin;
  if (auto* borrow = std::get_if<BorrowLink>(&link.transport)) {
    // The borrowed transport cannot work without the server key and the borrowed name.
    if (!server_key) return bad("a borrow link needs pk=: the link is cut short");
    if (link.sni.empty()) return bad("a borrow link needs sni=: the link is cut short");
    borrow->server_key = *server_key;
  }
  if (auto* cdn = std::get_if<CdnLink>(&link.transport)) {
    if (!server_key) return bad("a cdn link needs pk=: the link is cut short");
    if (!path) return bad("a cdn link needs path=: the link is cut short");
    if (link.sni.empty()) return bad("a cdn link needs sni= (the site's name at the CDN): the link is cut short");
    cdn->server_key = *server_key;
    cdn->path = *path;
    if (upload) cdn->upload = *upload;
  }
  return link;
}

}  // namespace culvert
