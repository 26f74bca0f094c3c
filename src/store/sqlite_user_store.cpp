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
  return u;
}

constexpr const char* kColumns = "SELECT name, key_id, secret, created_at, revoked FROM users";

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
  User u{name, generate_credential(), static_cast<std::int64_t>(std::time(nullptr)), false};
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

Result<std::optional<User>> SqliteUserStore::find_active(const std::array<std::uint8_t, 8>& key_id) {
  std::string sql = std::string(kColumns) + " WHERE key_id = ? AND revoked = 0";
  Statement s(db_, sql.c_str());
  if (!s) return fail(Errc::store_failed);
  sqlite3_bind_blob(s.get(), 1, key_id.data(), 8, SQLITE_TRANSIENT);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return std::optional<User>(row_to_user(s.get()));
  if (rc == SQLITE_DONE) return std::optional<User>();
  return fail(Errc::store_failed);
}

}  // namespace culvert
