// UserStore: who may open tunnels, on what terms, and how much they used. The server asks it once
// per new tunnel (so a revocation applies to the next tunnel without a restart) and re-checks the
// users of open tunnels every few seconds (so it also ends the ones it has). Implementations:
// SqliteUserStore (default, a file in the data directory), PostgresUserStore (several servers
// sharing users) and MemoryUserStore (tests). Not thread-safe: use from one thread.
//
// Usage is counted in aggregate bytes per user and calendar month (UTC), never per connection and
// never with a destination; the server adds it in batches (add_usage).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "link/share_link.h"

namespace culvert {

struct User {
  std::string name;
  UserCredential credential;
  // After `rotate`, the previous key keeps working until previous_until (unix seconds).
  std::optional<UserCredential> previous;
  std::int64_t previous_until = 0;
  std::int64_t created_at = 0;  // unix seconds
  std::int64_t expires_at = 0;  // unix seconds; 0 = never
  bool revoked = false;
  std::uint64_t quota_bytes = 0;  // per calendar month, up + down; 0 = unlimited
  std::int64_t period_start = 0;  // the month the usage below belongs to
  std::uint64_t used_up = 0;      // client -> server bytes this period
  std::uint64_t used_down = 0;    // server -> client bytes this period
  std::uint32_t max_tunnels = 0;  // tunnels at once; 0 = the server's default
  std::string notes;

  // Usage of the period that holds `now` (0 once a new month began).
  std::uint64_t used_in_period(std::int64_t now) const;
  // Not revoked, not expired, not over quota at `now`.
  bool usable(std::int64_t now) const;
  // Why not usable: "revoked", "expired", "over quota", or "" when usable.
  std::string status(std::int64_t now) const;
};

// Fields `update` may change; absent ones stay as they are.
struct UserChanges {
  std::optional<std::uint64_t> quota_bytes;
  std::optional<std::int64_t> expires_at;
  std::optional<std::uint32_t> max_tunnels;
  std::optional<std::string> notes;
};

struct UsageDelta {
  std::string name;
  std::uint64_t up = 0;
  std::uint64_t down = 0;
};

// One server of the fleet every user's subscription lists: a share link whose credential is
// replaced by each user's own (server/subscription.h).
struct FleetEntry {
  std::string name;
  std::string link;
};

class UserStore {
 public:
  virtual ~UserStore() = default;
  // Creates a user with a fresh random credential. Fails if the name is taken or invalid.
  virtual Result<User> add(const std::string& name) = 0;
  virtual Result<std::vector<User>> list() = 0;
  virtual Result<User> get(const std::string& name) = 0;
  // Marks the user revoked; their next tunnel is refused (served the cover site).
  virtual Result<void> revoke(const std::string& name) = 0;
  // Undoes a revocation: the user's current link works again (quota, expiry and keys unchanged).
  virtual Result<void> restore(const std::string& name) = 0;
  // Deletes the user and their usage for good; the name can be added again (with a new link).
  virtual Result<void> remove(const std::string& name) = 0;
  virtual Result<User> update(const std::string& name, const UserChanges& changes) = 0;
  // A new credential; the old one stays valid for `grace_seconds` from `now` (0: ends at once).
  virtual Result<User> rotate(const std::string& name, std::int64_t grace_seconds, std::int64_t now) = 0;
  // The usable user (User::usable) whose current key, or previous key still in its grace period,
  // has this id; `credential` of the result is the matching one.
  virtual Result<std::optional<User>> find_active(const std::array<std::uint8_t, 8>& key_id, std::int64_t now) = 0;
  // Adds usage atomically per user (several servers may add at once); a user's usage starts from
  // zero when `now` is in a later month than their period. Unknown names are ignored.
  virtual Result<void> add_usage(const std::vector<UsageDelta>& deltas, std::int64_t now) = 0;

  // The fleet, by name. With PostgreSQL every server sharing the store sees the same fleet, so
  // one change reaches every user's subscription.
  virtual Result<std::vector<FleetEntry>> fleet() = 0;
  // Adds the entry, or replaces the one of that name.
  virtual Result<void> fleet_put(const FleetEntry& entry) = 0;
  // Errc::store_failed for an unknown name.
  virtual Result<void> fleet_remove(const std::string& name) = 0;
  // A random 32-byte secret for `purpose`, the same for every server of the store; made on first
  // use (subscription URLs are derived from it).
  virtual Result<std::array<std::uint8_t, 32>> shared_secret(const std::string& purpose) = 0;
};

// Names are 1-64 characters of [A-Za-z0-9._-]; they appear in links and logs, so nothing else.
bool valid_user_name(const std::string& name);
UserCredential generate_credential();
// The first second of the UTC month holding `now`.
std::int64_t month_start(std::int64_t now);
std::int64_t unix_now();

}  // namespace culvert
