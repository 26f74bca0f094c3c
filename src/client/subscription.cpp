#include "client/subscription.h"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "client/https_get.h"
#include "core/await.h"
#include "core/file.h"
#include "crypto/crypto.h"

namespace culvert {
namespace {

constexpr std::chrono::seconds kMinimumGap{60};

// Standard or url-safe base64, padding and line breaks allowed; nothing if it is not base64.
std::optional<std::string> decode_base64(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t' || c == '=') continue;
    if (c == '+') c = '-';
    if (c == '/') c = '_';
    clean += c;
  }
  if (clean.empty()) return std::nullopt;
  auto bytes = crypto::base64url_decode(clean);
  if (!bytes) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

std::string entry_name(const ShareLink& link, std::size_t index) {
  std::string name = link.label;
  if (auto at = name.rfind('@'); at != std::string::npos) name = name.substr(at + 1);
  std::string clean;
  for (char c : name)
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
      clean += c;
  if (clean.empty() || clean == "direct" || clean == "block") clean = "server-" + std::to_string(index + 1);
  return clean.substr(0, 64);
}

}  // namespace

Result<std::vector<ServerEntry>> parse_subscription(std::string_view body, std::size_t* skipped) {
  std::string text(body);
  if (text.find("://") == std::string::npos) {
    auto decoded = decode_base64(text);
    if (!decoded) return fail(Errc::bad_link);
    text = *decoded;
  }
  std::vector<ServerEntry> out;
  std::set<std::string> names;
  std::size_t bad = 0;
  std::size_t start = 0;
  while (start < text.size() && out.size() < 256) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto link = parse_share_link(line);
    if (!link) {
      ++bad;  // another tool's link, or one from a newer Culvert
      continue;
    }
    std::string name = entry_name(*link, out.size());
    for (int n = 2; names.count(name); ++n) name = entry_name(*link, out.size()) + "-" + std::to_string(n);
    names.insert(name);
    out.push_back(ServerEntry{name, std::move(*link)});
  }
  if (skipped) *skipped = bad;
  if (out.empty()) return fail(Errc::bad_link);
  return out;
}

std::string subscription_cache_path(const std::string& url) {
  std::string dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    dir = std::string(xdg) + "/culvert";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    dir = std::string(home) + "/.cache/culvert";
  } else {
    return {};
  }
  auto digest = crypto::sha256(as_bytes(url));
  return dir + "/subscription-" + crypto::hex_encode(ByteSpan(digest.data(), 8)) + ".txt";
}

SubscriptionUpdater::SubscriptionUpdater(asio::any_io_executor executor, GroupConfig group, Outbounds& outbounds)
    : executor_(std::move(executor)),
      group_(std::move(group)),
      outbounds_(outbounds),
      timer_(executor_),
      cache_path_(subscription_cache_path(group_.subscription)) {}

bool SubscriptionUpdater::apply(const std::string& body, const char* source) {
  std::size_t skipped = 0;
  auto servers = parse_subscription(body, &skipped);
  if (!servers) {
    spdlog::warn("subscription {}: the {} copy lists no link this client can use", group_.name, source);
    return false;
  }
  if (skipped) spdlog::info("subscription {}: {} links of other kinds skipped", group_.name, skipped);
  auto changed = outbounds_.set_group_servers(group_.name, *servers);
  spdlog::info("subscription {}: {} servers from the {} copy ({} new)", group_.name, servers->size(), source, changed);
  have_servers_ = true;
  return true;
}

void SubscriptionUpdater::start(std::optional<asio::ip::tcp::endpoint> proxy) {
  proxy_ = proxy;
  if (!cache_path_.empty()) {
    if (auto cached = read_file(cache_path_)) apply(*cached, "saved");
  }
  asio::co_spawn(executor_, loop(), asio::detached);
}

void SubscriptionUpdater::wake() {
  if (std::chrono::steady_clock::now() - last_fetch_ < kMinimumGap) return;
  timer_.cancel();
}

void SubscriptionUpdater::stop() {
  stopping_ = true;
  timer_.cancel();
}

asio::awaitable<bool> SubscriptionUpdater::refresh() {
  last_fetch_ = std::chrono::steady_clock::now();
  std::string why;
  std::optional<HttpsAnswer> answer;
  // Through a tunnel first (the fetch then looks like any other tunnelled request), else direct.
  std::vector<std::optional<asio::ip::tcp::endpoint>> routes;
  if (have_servers_ && proxy_) routes.push_back(proxy_);
  routes.push_back(std::nullopt);
  for (const auto& route : routes) {
    // A tunnel that just died has not been noticed yet: give that attempt less time.
    auto limit = route ? std::chrono::seconds(6) : std::chrono::seconds(10);
    auto got = co_await https_get(group_.subscription, route, std::chrono::steady_clock::now() + limit, why);
    if (got && got->status == 200) {
      answer = std::move(*got);
      break;
    }
    if (got) why = "the server answered " + std::to_string(got->status);
    spdlog::info("subscription {}: fetch {} failed: {}", group_.name, route ? "through a tunnel" : "directly", why);
  }
  if (!answer) co_return false;
  if (!apply(answer->body, "fetched")) co_return false;
  if (!cache_path_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cache_path_).parent_path(), ec);
    if (!write_private_file(cache_path_, answer->body))
      spdlog::warn("subscription {}: cannot keep a copy in {}", group_.name, cache_path_);
  }
  if (auto info = answer->header("subscription-userinfo"); !info.empty())
    spdlog::info("subscription {}: {}", group_.name, info);
  co_return true;
}

asio::awaitable<void> SubscriptionUpdater::loop() {
  int failures = 0;
  while (!stopping_) {
    bool ok = co_await refresh();
    if (stopping_) co_return;
    failures = ok ? 0 : failures + 1;
    // After a failure, try again soon (30 s doubling to the interval); else at the interval.
    auto wait = group_.refresh;
    if (!ok)
      wait = std::min<std::chrono::milliseconds>(group_.refresh,
                                                 std::chrono::seconds(30) * (1 << std::min(failures - 1, 6)));
    timer_.expires_after(wait);
    co_await timer_.async_wait(use_tuple);
  }
}

}  // namespace culvert
