// User administration shared by the CLI (`culvert user ...`) and the admin HTTP API: opening the
// configured store, share links, JSON views of users, and parsing of quotas and expiry dates.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/server_config.h"
#include "store/user_store.h"

namespace culvert::admin {

// The store the configuration names (SQLite file or PostgreSQL). Errors in `message`.
Result<std::unique_ptr<UserStore>> open_store(const ServerConfig& config, std::string& message);

// The user's share link for this server (reads the certificate or static key for the pin).
Result<std::string> share_link(const ServerConfig& config, const User& user);

// {"name":..., "status":"active"|"revoked"|"expired"|"over quota", limits, this month's usage,
// "link" when given}. Never the secret itself except inside the link.
std::string user_json(const User& user, std::int64_t now, const std::optional<std::string>& link = std::nullopt);
std::string json_string(std::string_view text);

// "0", "unlimited", "1500000", "500M", "10G", "1.5T" (binary units: K = 1024) -> bytes.
std::optional<std::uint64_t> parse_bytes(std::string_view text);
// "never" (0), "2026-12-31" (valid through that UTC day), "+30d" (from `now`), or unix seconds.
std::optional<std::int64_t> parse_expiry(std::string_view text, std::int64_t now);
// "7d", "12h", "30m", "90s" or plain seconds.
std::optional<std::int64_t> parse_duration(std::string_view text);
std::string format_time(std::int64_t unix_seconds);  // ISO 8601 UTC, "never" for 0
std::string format_bytes(std::uint64_t bytes);       // "1.5 GiB"

}  // namespace culvert::admin
