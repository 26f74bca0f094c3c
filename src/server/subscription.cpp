#include "server/subscription.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "core/tcp_stream.h"
#include "crypto/crypto.h"
#include "transport/tls/certificate.h"

namespace culvert {
namespace {

Result<PublicKey> static_public_key(const ServerConfig& config) {
  auto secret = crypto::read_x25519_private_key(config.path(config.static_key));
  if (!secret) return fail(Errc::bad_config);
  auto key = crypto::x25519_public_key(*secret);
  OPENSSL_cleanse(secret->data(), secret->size());
  if (!key) return fail(Errc::bad_config);
  return *key;
}

Result<ShareLink> own_link(const ServerConfig& config, const User& user) {
  auto transport = transport_for_name(config.transport);
  if (!transport) return fail(Errc::bad_config);
  ShareLink link;
  link.transport = std::move(*transport);
  link.host = config.public_host;
  std::string host;
  split_host_port(config.listen, host, link.port);
  link.sni = config.sni;
  if (auto* tls = std::get_if<TlsLink>(&link.transport); tls && config.certificate_pinned) {
    auto pin = tls::spki_sha256_of_file(config.path(config.certificate));
    if (!pin) return fail(pin.error());
    tls->pin = *pin;
  } else if (auto* borrow = std::get_if<BorrowLink>(&link.transport)) {
    auto key = static_public_key(config);
    if (!key) return fail(key.error());
    borrow->server_key = *key;
  } else if (auto* cdn = std::get_if<CdnLink>(&link.transport)) {
    auto key = static_public_key(config);
    if (!key) return fail(key.error());
    cdn->server_key = *key;
    cdn->path = config.cdn.path;
    cdn->upload = config.cdn.upload;
    // Clients go to the CDN's edge, and name the site there.
    link.port = 443;
    if (!config.cdn.front.empty()) split_host_port(config.cdn.front, link.host, link.port);
    if (link.sni.empty()) link.sni = config.public_host;
  }
  link.credential = user.credential;
  link.label = user.name + "@" + config.public_host;
  return link;
}

// RFC 4648 §4 base64 with padding: what subscription clients expect.
std::string standard_base64(std::string_view text) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  auto byte = [&](std::size_t k) { return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u; };
  for (std::size_t i = 0; i < text.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    std::size_t left = text.size() - i;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += left > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    out += left > 2 ? kAlphabet[v & 63] : '=';
  }
  return out;
}

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

Result<std::string> share_link(const ServerConfig& config, const User& user) {
  auto link = own_link(config, user);
  if (!link) return fail(link.error());
  return format_share_link(*link);
}

std::string subscription_token(const std::array<std::uint8_t, 32>& secret, const std::string& name) {
  std::string message = "culvert subscription v1";
  message.push_back('\0');
  message += name;
  auto mac = crypto::hmac_sha256(secret, as_bytes(message));
  return crypto::base64url_encode(ByteSpan(mac.data(), 18));
}

Result<std::string> subscription_url(const ServerConfig& config, UserStore& store, const User& user, std::string& why) {
  if (config.subscription_path.empty()) {
    why = "subscriptions are off (subscription_path = \"\" in config.toml)";
    return fail(Errc::unsupported);
  }
  if (config.transport == "borrow") {
    why =
        "a borrow server passes everyone who is not a tunnel to the borrowed site, so it cannot serve "
        "subscriptions: take the URL from a tls or cdn server of the same store";
    return fail(Errc::unsupported);
  }
  auto secret = store.shared_secret(std::string(kSubscriptionPurpose));
  if (!secret) {
    why = "the user store cannot be read";
    return fail(secret.error());
  }
  std::string host = config.sni.empty() ? config.public_host : config.sni;
  std::string lhost;
  std::uint16_t port = 443;
  if (config.transport == "cdn") {
    if (!config.cdn.front.empty()) split_host_port(config.cdn.front, lhost, port);
  } else {
    split_host_port(config.listen, lhost, port);
  }
  std::string authority = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != 443) authority += ":" + std::to_string(port);
  std::string url = "https://" + authority + config.subscription_path + "/" + subscription_token(*secret, user.name);
  if (config.transport == "tls" && config.certificate_pinned) {
    auto pin = tls::spki_sha256_of_file(config.path(config.certificate));
    if (!pin) {
      why = "cannot read " + config.path(config.certificate);
      return fail(pin.error());
    }
    url += "#pin=" + crypto::base64url_encode(*pin);
  }
  return url;
}

Result<std::vector<std::string>> subscription_links(const ServerConfig& config, UserStore& store, const User& user) {
  auto fleet = store.fleet();
  if (!fleet) return fail(fleet.error());
  std::vector<std::string> out;
  if (fleet->empty()) {
    auto own = share_link(config, user);
    if (!own) return fail(own.error());
    out.push_back(*own);
    return out;
  }
  for (const auto& entry : *fleet) {
    auto link = parse_share_link(entry.link);
    if (!link) {
      spdlog::warn("fleet entry {} holds no valid link; left out of subscriptions", entry.name);
      continue;
    }
    link->credential = user.credential;
    link->label = user.name + "@" + entry.name;
    out.push_back(format_share_link(*link));
  }
  return out;
}

std::string subscription_userinfo(const User& user, std::int64_t now) {
  bool this_period = user.period_start >= month_start(now);
  std::string out = "upload=" + std::to_string(this_period ? user.used_up : 0) +
                    "; download=" + std::to_string(this_period ? user.used_down : 0) +
                    "; total=" + std::to_string(user.quota_bytes);
  if (user.expires_at != 0) out += "; expire=" + std::to_string(user.expires_at);
  return out;
}

cover::Claim SubscriptionService::claim() {
  cover::Claim c;
  if (config_.subscription_path.empty()) return c;
  c.wants = [this](std::string_view uri) {
    const auto& prefix = config_.subscription_path;
    return uri.size() > prefix.size() + 1 && uri.substr(0, prefix.size()) == prefix && uri[prefix.size()] == '/';
  };
  c.answer = [this](const cover::ClaimedRequest& request) { return answer(request); };
  return c;
}

std::optional<User> SubscriptionService::user_for(std::string_view token) {
  auto now = std::chrono::steady_clock::now();
  if (tokens_.empty() || now - tokens_at_ > std::chrono::seconds(10)) {
    auto secret = store_.shared_secret(std::string(kSubscriptionPurpose));
    auto users = store_.list();
    if (!secret || !users) return std::nullopt;
    tokens_.clear();
    for (const auto& u : *users) tokens_[subscription_token(*secret, u.name)] = u.name;
    tokens_at_ = now;
  }
  // Every token is compared (in constant time), so timing does not tell how close a guess was.
  const std::string* found = nullptr;
  for (const auto& [t, name] : tokens_)
    if (crypto::equal_constant_time(as_bytes(t), as_bytes(token))) found = &name;
  if (!found) return std::nullopt;
  auto user = store_.get(*found);
  if (!user) return std::nullopt;
  return *user;
}

std::optional<cover::Response> SubscriptionService::answer(const cover::ClaimedRequest& request) {
  if (request.method != "GET") return std::nullopt;
  std::string_view rest = std::string_view(request.uri).substr(config_.subscription_path.size() + 1);
  bool plain = false;
  if (rest.ends_with("/plain")) {
    plain = true;
    rest.remove_suffix(6);
  }
  if (rest.size() != 24) return std::nullopt;
  for (char ch : rest)
    if (!token_char(ch)) return std::nullopt;
  auto user = user_for(rest);
  auto now = unix_now();
  if (!user || !user->usable(now)) return std::nullopt;
  auto links = subscription_links(config_, store_, *user);
  if (!links || links->empty()) return std::nullopt;
  std::string text;
  for (const auto& l : *links) text += l + "\n";
  cover::Response r;
  r.status = 200;
  r.content_type = "text/plain; charset=utf-8";
  r.body = plain ? text : standard_base64(text);
  r.content_length = static_cast<long long>(r.body.size());
  r.headers.push_back({"Subscription-Userinfo", subscription_userinfo(*user, now)});
  r.headers.push_back({"Profile-Update-Interval", "12"});
  r.headers.push_back({"Cache-Control", "no-store"});
  return r;
}

}  // namespace culvert
