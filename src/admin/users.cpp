#include "admin/users.h"

#include <openssl/crypto.h>

#include <charconv>
#include <cmath>
#include <ctime>

#include "core/tcp_stream.h"
#include "crypto/crypto.h"
#include "server/subscription.h"
#include "store/postgres_user_store.h"
#include "store/sqlite_user_store.h"
#include "transport/tls/certificate.h"

namespace culvert::admin {

Result<std::unique_ptr<UserStore>> open_store(const ServerConfig& config, std::string& message) {
  if (config.store == "postgres") {
    auto store = PostgresUserStore::open(config.postgres, message);
    if (!store) {
      message = "cannot open the PostgreSQL user store: " + message;
      return fail(store.error());
    }
    return std::unique_ptr<UserStore>(std::move(*store));
  }
  auto path = config.path(config.users_db);
  auto store = SqliteUserStore::open(path);
  if (!store) {
    message = "cannot open user store " + path + ": " + store.error().message();
    return fail(store.error());
  }
  return std::unique_ptr<UserStore>(std::move(*store));
}

Result<std::string> share_link(const ServerConfig& config, const User& user) {
  return culvert::share_link(config, user);
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string format_time(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "never";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  char out[32];
  std::snprintf(out, sizeof out, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return out;
}

std::string user_json(const User& u, std::int64_t now, const std::optional<std::string>& link) {
  auto status = u.status(now);
  std::string out = "{\"name\":" + json_string(u.name);
  out += ",\"status\":" + json_string(status.empty() ? "active" : status);
  out += ",\"created_at\":" + std::to_string(u.created_at);
  out += ",\"expires_at\":" + std::to_string(u.expires_at);
  out += ",\"quota_bytes\":" + std::to_string(u.quota_bytes);
  bool current = u.period_start >= month_start(now);
  out += ",\"period_start\":" + std::to_string(month_start(now));
  out += ",\"used_up\":" + std::to_string(current ? u.used_up : 0);
  out += ",\"used_down\":" + std::to_string(current ? u.used_down : 0);
  out += ",\"max_tunnels\":" + std::to_string(u.max_tunnels);
  out += ",\"previous_key_until\":" + std::to_string(u.previous && u.previous_until > now ? u.previous_until : 0);
  out += ",\"notes\":" + json_string(u.notes);
  if (link) out += ",\"link\":" + json_string(*link);
  return out + "}";
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  if (text == "0" || text == "unlimited" || text == "none") return 0;
  std::size_t digits = 0;
  while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) ++digits;
  if (digits == 0) return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc() || end != text.data() + digits) return std::nullopt;
  auto unit = text.substr(digits);
  if (unit.ends_with("iB")) unit.remove_suffix(2);
  if (unit.ends_with("B")) unit.remove_suffix(1);
  double scale = 1;
  if (unit == "K" || unit == "k")
    scale = 1024.0;
  else if (unit == "M")
    scale = 1024.0 * 1024;
  else if (unit == "G")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "T")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty())
    return std::nullopt;
  double bytes = std::floor(value * scale);
  if (bytes > 9.0e18) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t scale = 1;
  switch (text.back()) {
    case 'd':
      scale = 86400;
      break;
    case 'h':
      scale = 3600;
      break;
    case 'm':
      scale = 60;
      break;
    case 's':
      break;
    default:
      scale = 0;
  }
  if (scale != 0) text.remove_suffix(1);
  if (scale == 0) scale = 1;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 100LL * 365 * 86400)
    return std::nullopt;
  return value * scale;
}

std::optional<std::int64_t> parse_expiry(std::string_view text, std::int64_t now) {
  if (text == "never") return 0;
  // "+30d"; in a query string "+" arrives as a space (form encoding): both mean "from now".
  if (text.starts_with("+") || text.starts_with(" ")) {
    auto d = parse_duration(text.substr(1));
    if (!d) return std::nullopt;
    return now + *d;
  }
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    std::tm tm{};
    int y = 0, m = 0, d = 0;
    if (std::sscanf(std::string(text).c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
      return std::nullopt;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d + 1;  // valid through that day: expires at the next midnight UTC
    return static_cast<std::int64_t>(timegm(&tm));
  }
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

}  // namespace culvert::admin
