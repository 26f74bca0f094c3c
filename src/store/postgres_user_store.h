// PostgresUserStore: users in PostgreSQL (libpq), so several servers share them: a user added or
// revoked on one is seen by the others at their next tunnel and by their periodic user check, and
// usage from every server adds up (each flush is one transaction of row-level increments). The
// schema is versioned in culvert_schema and migrated on open under an advisory lock, so servers
// starting together do not race. Calls block the calling thread for one round trip; a dropped
// connection is re-established on the next call.
#pragma once

#include <memory>
#include <string>

#include "store/user_store.h"

struct pg_conn;

namespace culvert {

class PostgresUserStore final : public UserStore {
 public:
  // `conninfo` is a libpq connection string ("host=... dbname=... user=..." or a URI).
  // Errors carry libpq's reason (never the password) in `message`.
  static Result<std::unique_ptr<PostgresUserStore>> open(const std::string& conninfo, std::string& message);
  ~PostgresUserStore() override;
  PostgresUserStore(const PostgresUserStore&) = delete;
  PostgresUserStore& operator=(const PostgresUserStore&) = delete;

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

  static constexpr int kSchemaVersion = 2;

 private:
  explicit PostgresUserStore(pg_conn* conn) : conn_(conn) {}
  Result<void> migrate(std::string& message);
  bool connected();

  pg_conn* conn_;
};

}  // namespace culvert
