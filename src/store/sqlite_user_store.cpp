#include "store/sqlite_user_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstring>
#include <ctime>

namespace culvert {
namespace {

// Migrations run in order; index i moves the schema from version i to i + 1.
constexpr const char* kMigrations[] = {
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY,"
    "  key_id BLOB NOT NULL UNIQUE,"
    "  secret BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0)",
    // 2: rotation, expiry, monthly quota and usage, tunnel limit, notes.
    "ALTER TABLE users ADD COLUMN previous_key_id BLOB;"
    "ALTER TABLE users ADD COLUMN previous_secret BLOB;"
    "ALTER TABLE users ADD COLUMN previous_until INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN quota_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN period_start INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN used_up INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN used_down INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN max_tunnels INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN notes TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX users_previous_key ON users(previous_key_id)",
    // 3: the fleet (servers in subscriptions) and shared secrets.
    ("CREATE TABLE fleet (name TEXT PRIMARY KEY, link TEXT NOT NULL);"
     "CREATE TABLE secrets (purpose TEXT PRIMARY KEY, value BLOB NOT NULL)"),
};
static_assert(std::size(kMigrations) == SqliteUserStore::kSchemaVersion);

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  explicit operator bool() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

User row_to_user(sqlite3_stmt* s) {
  User u;
  u.name = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  if (sqlite3_column_bytes(s, 1) == 8) std::memcpy(u.credential.key_id.data(), sqlite3_column_blob(s, 1), 8);
  if (sqlite3_column_bytes(s, 2) == 32) std::memcpy(u.credential.secret.data(), sqlite3_column_blob(s, 2), 32);
  u.created_at = sqlite3_column_int64(s, 3);
  u.revoked = sqlite3_column_int(s, 4) != 0;
  if (sqlite3_column_bytes(s, 5) == 8 && sqlite3_column_bytes(s, 6) == 32) {
    UserCredential previous;
    std::memcpy(previous.key_id.data(), sqlite3_column_blob(s, 5), 8);
    std::memcpy(previous.secret.data(), sqlite3_column_blob(s, 6), 32);
    u.previous = previous;
  }
  u.previous_until = sqlite3_column_int64(s, 7);
  u.expires_at = sqlite3_column_int64(s, 8);
  u.quota_bytes = static_cast<std::uint64_t>(sqlite3_column_int64(s, 9));
  u.period_start = sqlite3_column_int64(s, 10);
  u.used_up = static_cast<std::uint64_t>(sqlite3_column_int64(s, 11));
  u.used_down = static_cast<std::uint64_t>(sqlite3_column_int64(s, 12));
  u.max_tunnels = static_cast<std::uint32_t>(sqlite3_column_int64(s, 13));
  if (auto* notes = sqlite3_column_text(s, 14)) u.notes = reinterpret_cast<const char*>(notes);
  return u;
}

constexpr const char* kColumns =
    "SELECT name, key_id, secret, created_at, revoked, previous_key_id, previous_secret, previous_until, expires_at,"
    " quota_bytes, period_start, used_up, used_down, max_tunnels, notes FROM users";

}  // namespace

Result<std::unique_ptr<SqliteUserStore>> SqliteUserStore::open(const std::string& path) {
  // The file holds user secrets: create it owner-only before SQLite touches it.
  mode_t old_mask = ::umask(077);
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  ::umask(old_mask);
  if (rc != SQLITE_OK) {
    sqlite3_close(db);
    return fail(Errc::store_failed);
  }
  std::unique_ptr<SqliteUserStore> store(new SqliteUserStore(db));
  sqlite3_busy_timeout(db, 2000);
  if (auto r = store->exec("PRAGMA journal_mode=WAL"); !r) return fail(r.error());
  if (auto r = store->migrate(); !r) return fail(r.error());
  return store;
}

SqliteUserStore::~SqliteUserStore() { sqlite3_close(db_); }

Result<void> SqliteUserStore::exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return fail(Errc::store_failed);
  return {};
}

Result<void> SqliteUserStore::migrate() {
  Statement version(db_, "PRAGMA user_version");
  if (!version || sqlite3_step(version.get()) != SQLITE_ROW) return fail(Errc::store_failed);
  int current = sqlite3_column_int(version.get(), 0);
  if (current > kSchemaVersion) return fail(Errc::store_failed);  // written by a newer Culvert
  for (int v = current; v < kSchemaVersion; ++v) {
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
    std::string bump = "PRAGMA user_version=" + std::to_string(v + 1);
    if (!exec(kMigrations[v]) || !exec(bump.c_str())) {
      exec("ROLLBACK");
      return fail(Errc::store_failed);
    }
    if (auto r = exec("COMMIT"); !r) return r;
  }
  return {};
}

Result<User> SqliteUserStore::add(const std::string& name) {
  if (!valid_user_name(name)) return fail(Errc::bad_config);
  User u;
  u.name = name;
  u.credential = generate_credential();
  u.created_at = unix_now();
  Statement s(db_, "INSERT INTO users(name, key_id, secret, created_at) VALUES(?, ?, ?, ?)");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, u.name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob(s.get(), 2, u.credential.key_id.data(), 8, SQLITE_TRANSIENT);
  sqlite3_bind_blob(s.get(), 3, u.credential.secret.data(), 32, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s.get(), 4, u.created_at);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return fail(Errc::store_failed);
  return u;
}

Result<std::vector<User>> SqliteUserStore::list() {
  std::string sql = std::string(kColumns) + " ORDER BY created_at, name";
  Statement s(db_, sql.c_str());
  if (!s) return fail(Errc::store_failed);
  std::vector<User> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(row_to_user(s.get()));
  if (rc != SQLITE_DONE) return fail(Errc::store_failed);
  return out;
}

Result<User> SqliteUserStore::get(const std::string& name) {
  std::string sql = std::string(kColumns) + " WHERE name = ?";
  Statement s(db_, sql.c_str());
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return fail(Errc::store_failed);
  return row_to_user(s.get());
}

Result<void> SqliteUserStore::revoke(const std::string& name) {
  Statement s(db_, "UPDATE users SET revoked = 1 WHERE name = ?");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE || sqlite3_changes(db_) != 1) return fail(Errc::store_failed);
  return {};
}

Result<void> SqliteUserStore::restore(const std::string& name) {
  Statement s(db_, "UPDATE users SET revoked = 0 WHERE name = ?");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE || sqlite3_changes(db_) != 1) return fail(Errc::store_failed);
  return {};
}

Result<void> SqliteUserStore::remove(const std::string& name) {
  Statement s(db_, "DELETE FROM users WHERE name = ?");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE || sqlite3_changes(db_) != 1) return fail(Errc::store_failed);
  return {};
}

Result<std::optional<User>> SqliteUserStore::find_active(const std::array<std::uint8_t, 8>& key_id, std::int64_t now) {
  std::string sql = std::string(kColumns) + " WHERE key_id = ?1 OR (previous_key_id = ?1 AND previous_until > ?2)";
  Statement s(db_, sql.c_str());
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_blob(s.get(), 1, key_id.data(), 8, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s.get(), 2, now);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<User>();
  if (rc != SQLITE_ROW) return fail(Errc::store_failed);
  auto user = row_to_user(s.get());
  if (!user.usable(now)) return std::optional<User>();
  if (user.credential.key_id != key_id && user.previous) user.credential = *user.previous;
  return std::optional<User>(std::move(user));
}

Result<User> SqliteUserStore::update(const std::string& name, const UserChanges& c) {
  Statement s(db_,
              "UPDATE users SET quota_bytes = coalesce(?1, quota_bytes), expires_at = coalesce(?2, expires_at),"
              " max_tunnels = coalesce(?3, max_tunnels), notes = coalesce(?4, notes) WHERE name = ?5");
  if (!s) return fail(Errc::store_failed);
  if (c.quota_bytes) sqlite3_bind_int64(s.get(), 1, static_cast<std::int64_t>(*c.quota_bytes));
  if (c.expires_at) sqlite3_bind_int64(s.get(), 2, *c.expires_at);
  if (c.max_tunnels) sqlite3_bind_int64(s.get(), 3, *c.max_tunnels);
  if (c.notes) sqlite3_bind_text(s.get(), 4, c.notes->c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s.get(), 5, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE || sqlite3_changes(db_) != 1) return fail(Errc::store_failed);
  return get(name);
}

Result<User> SqliteUserStore::rotate(const std::string& name, std::int64_t grace_seconds, std::int64_t now) {
  auto fresh = generate_credential();
  Statement s(db_,
              "UPDATE users SET previous_key_id = key_id, previous_secret = secret, previous_until = ?1,"
              " key_id = ?2, secret = ?3 WHERE name = ?4");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_int64(s.get(), 1, now + grace_seconds);
  sqlite3_bind_blob(s.get(), 2, fresh.key_id.data(), 8, SQLITE_TRANSIENT);
  sqlite3_bind_blob(s.get(), 3, fresh.secret.data(), 32, SQLITE_TRANSIENT);
  sqlite3_bind_text(s.get(), 4, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE || sqlite3_changes(db_) != 1) return fail(Errc::store_failed);
  return get(name);
}

Result<void> SqliteUserStore::add_usage(const std::vector<UsageDelta>& deltas, std::int64_t now) {
  if (deltas.empty()) return {};
  auto month = month_start(now);
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  Statement s(db_,
              "UPDATE users SET"
              " used_up = CASE WHEN period_start < ?1 THEN ?2 ELSE used_up + ?2 END,"
              " used_down = CASE WHEN period_start < ?1 THEN ?3 ELSE used_down + ?3 END,"
              " period_start = max(period_start, ?1) WHERE name = ?4");
  if (!s) {
    exec("ROLLBACK");
    return fail(Errc::store_failed);
  }
  for (const auto& d : deltas) {
    sqlite3_reset(s.get());
    sqlite3_bind_int64(s.get(), 1, month);
    sqlite3_bind_int64(s.get(), 2, static_cast<std::int64_t>(d.up));
    sqlite3_bind_int64(s.get(), 3, static_cast<std::int64_t>(d.down));
    sqlite3_bind_text(s.get(), 4, d.name.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s.get()) != SQLITE_DONE) {
      exec("ROLLBACK");
      return fail(Errc::store_failed);
    }
  }
  return exec("COMMIT");
}

Result<std::vector<FleetEntry>> SqliteUserStore::fleet() {
  Statement s(db_, "SELECT name, link FROM fleet ORDER BY name");
  if (!s) return fail(Errc::store_failed);
  std::vector<FleetEntry> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    out.push_back({reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0)),
                   reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1))});
  if (rc != SQLITE_DONE) return fail(Errc::store_failed);
  return out;
}

Result<void> SqliteUserStore::fleet_put(const FleetEntry& entry) {
  Statement s(db_, "INSERT INTO fleet(name, link) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET link = ?2");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, entry.name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s.get(), 2, entry.link.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return fail(Errc::store_failed);
  return {};
}

Result<void> SqliteUserStore::fleet_remove(const std::string& name) {
  Statement s(db_, "DELETE FROM fleet WHERE name = ?");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_DONE || sqlite3_changes(db_) != 1) return fail(Errc::store_failed);
  return {};
}

Result<std::array<std::uint8_t, 32>> SqliteUserStore::shared_secret(const std::string& purpose) {
  // Insert a fresh one unless there is one, then read whichever won.
  auto fresh = generate_credential().secret;
  Statement insert(db_, "INSERT OR IGNORE INTO secrets(purpose, value) VALUES(?, ?)");
  if (!insert) return fail(Errc::store_failed);
  sqlite3_bind_text(insert.get(), 1, purpose.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob(insert.get(), 2, fresh.data(), 32, SQLITE_TRANSIENT);
  if (sqlite3_step(insert.get()) != SQLITE_DONE) return fail(Errc::store_failed);
  Statement s(db_, "SELECT value FROM secrets WHERE purpose = ?");
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_text(s.get(), 1, purpose.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s.get()) != SQLITE_ROW || sqlite3_column_bytes(s.get(), 0) != 32) return fail(Errc::store_failed);
  std::array<std::uint8_t, 32> out{};
  std::memcpy(out.data(), sqlite3_column_blob(s.get(), 0), 32);
  return out;
}

}  // namespace culvert
