// SqliteUserStore: users in a SQLite file (WAL mode, so `culvert user ...` can change users while
// the server runs). The schema is versioned by PRAGMA user_version and migrated on open.
#pragma once

#include <memory>
#include <string>

#include "store/user_store.h"

struct sqlite3;

namespace culvert {

class SqliteUserStore final : public UserStore {
 public:
  // Opens (creating if needed, mode 0600) and migrates the database at `path`.
  static Result<std::unique_ptr<SqliteUserStore>> open(const std::string& path);
  ~SqliteUserStore() override;
  SqliteUserStore(const SqliteUserStore&) = delete;
  SqliteUserStore& operator=(const SqliteUserStore&) = delete;

  Result<User> add(const std::string& name) override;
  Result<std::vector<User>> list() override;
  Result<User> get(const std::string& name) override;
  Result<void> revoke(const std::string& name) override;
  Result<void> restore(const std::string& name) override;
  Result<void> remove(const std::string& name) override;
  Result<User> update(const std::string& name, const UserChanges& changes) override;
  Result<User> rotate(const std::string& name, std::int64_t grace_seconds, std::int64_t now) override;
  Result<std::optional<User>> find_active(const std::array<std::uint8_t, 8>& key_id, std::int64_t now) override;
  Result<void> add_usage(const std::vector<UsageDelta>& deltas, std::int64_t now) override;
  Result<std::vector<FleetEntry>> fleet() override;
  Result<void> fleet_put(const FleetEntry& entry) override;
  Result<void> fleet_remove(const std::string& name) override;
  Result<std::array<std::uint8_t, 32>> shared_secret(const std::string& purpose) override;

  static constexpr int kSchemaVersion = 3;

 private:
  explicit SqliteUserStore(sqlite3* db) : db_(db) {}
  Result<void> migrate();
  Result<void> exec(const char* sql);

  sqlite3* db_;
};

}  // namespace culvert
