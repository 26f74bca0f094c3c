#include "store/postgres_user_store.h"

#include <libpq-fe.h>

#include <optional>
#include <vector>

namespace culvert {
namespace {

constexpr const char* kMigrations[] = {
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY,"
    "  key_id BYTEA NOT NULL UNIQUE,"
    "  secret BYTEA NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  revoked BOOLEAN NOT NULL DEFAULT FALSE,"
    "  previous_key_id BYTEA,"
    "  previous_secret BYTEA,"
    "  previous_until BIGINT NOT NULL DEFAULT 0,"
    "  expires_at BIGINT NOT NULL DEFAULT 0,"
    "  quota_bytes BIGINT NOT NULL DEFAULT 0,"
    "  period_start BIGINT NOT NULL DEFAULT 0,"
    "  used_up BIGINT NOT NULL DEFAULT 0,"
    "  used_down BIGINT NOT NULL DEFAULT 0,"
    "  max_tunnels INTEGER NOT NULL DEFAULT 0,"
    "  notes TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX users_previous_key ON users(previous_key_id)",
    // 2: the fleet (servers in subscriptions) and shared secrets.
    "CREATE TABLE fleet (name TEXT PRIMARY KEY, link TEXT NOT NULL);"
    "CREATE TABLE secrets (purpose TEXT PRIMARY KEY, value BYTEA NOT NULL)",
};
static_assert(std::size(kMigrations) == PostgresUserStore::kSchemaVersion);

constexpr const char* kColumns =
    "SELECT name, key_id, secret, created_at, revoked, previous_key_id, previous_secret, previous_until, expires_at,"
    " quota_bytes, period_start, used_up, used_down, max_tunnels, notes FROM users";

// One query's result, freed on scope exit.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  PGresult* get() const { return r_; }
  bool ok() const {
    auto status = PQresultStatus(r_);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  }
  int rows() const { return PQntuples(r_); }
  std::string text(int row, int col) const { return PQgetvalue(r_, row, col); }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::int64_t integer(int row, int col) const { return std::stoll(text(row, col)); }

 private:
  PGresult* r_;
};

// Query parameters: text for numbers and names, binary for keys, or NULL.
class Params {
 public:
  Params& text(std::string value) { return add(std::move(value), 0); }
  Params& number(std::int64_t value) { return text(std::to_string(value)); }
  Params& null() {
    values_.emplace_back();
    formats_.push_back(0);
    return *this;
  }
  template <std::size_t N>
  Params& bytes(const std::array<std::uint8_t, N>& value) {
    return add(std::string(reinterpret_cast<const char*>(value.data()), N), 1);
  }

  PGresult* run(pg_conn* conn, const char* sql) const {
    std::vector<const char*> pointers;
    std::vector<int> lengths;
    for (const auto& v : values_) {
      pointers.push_back(v ? v->data() : nullptr);
      lengths.push_back(v ? static_cast<int>(v->size()) : 0);
    }
    return PQexecParams(conn, sql, static_cast<int>(values_.size()), nullptr, pointers.data(), lengths.data(),
                        formats_.data(), 0);  // results as text
  }

 private:
  Params& add(std::string value, int format) {
    values_.emplace_back(std::move(value));
    formats_.push_back(format);
    return *this;
  }
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;
};

PGresult* run(pg_conn* conn, const char* sql, const Params& p) { return p.run(conn, sql); }

// Text-format BYTEA is "\x" + hex.
template <std::size_t N>
bool hex_bytes(const PgResult& r, int row, int col, std::array<std::uint8_t, N>& out) {
  if (r.null(row, col)) return false;
  std::string text = r.text(row, col);
  if (text.size() != 2 + 2 * N || text[0] != '\\' || text[1] != 'x') return false;
  for (std::size_t i = 0; i < N; ++i)
    out[i] = static_cast<std::uint8_t>(std::stoi(text.substr(2 + 2 * i, 2), nullptr, 16));
  return true;
}

User user_from(const PgResult& r, int row) {
  User u;
  u.name = r.text(row, 0);
  hex_bytes(r, row, 1, u.credential.key_id);
  hex_bytes(r, row, 2, u.credential.secret);
  u.created_at = r.integer(row, 3);
  u.revoked = r.text(row, 4) == "t";
  UserCredential previous;
  if (hex_bytes(r, row, 5, previous.key_id) && hex_bytes(r, row, 6, previous.secret)) u.previous = previous;
  u.previous_until = r.integer(row, 7);
  u.expires_at = r.integer(row, 8);
  u.quota_bytes = static_cast<std::uint64_t>(r.integer(row, 9));
  u.period_start = r.integer(row, 10);
  u.used_up = static_cast<std::uint64_t>(r.integer(row, 11));
  u.used_down = static_cast<std::uint64_t>(r.integer(row, 12));
  u.max_tunnels = static_cast<std::uint32_t>(r.integer(row, 13));
  u.notes = r.text(row, 14);
  return u;
}

}  // namespace

Result<std::unique_ptr<PostgresUserStore>> PostgresUserStore::open(const std::string& conninfo, std::string& message) {
  pg_conn* conn = PQconnectdb(conninfo.c_str());
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    message = conn ? PQerrorMessage(conn) : "out of memory";
    while (!message.empty() && message.back() == '\n') message.pop_back();
    PQfinish(conn);
    return fail(Errc::store_failed);
  }
  // Server notices ("relation already exists, skipping") are not for the operator's log.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<PostgresUserStore> store(new PostgresUserStore(conn));
  if (auto r = store->migrate(message); !r) return fail(r.error());
  return store;
}

PostgresUserStore::~PostgresUserStore() { PQfinish(conn_); }

bool PostgresUserStore::connected() {
  if (PQstatus(conn_) == CONNECTION_OK) return true;
  PQreset(conn_);
  return PQstatus(conn_) == CONNECTION_OK;
}

Result<void> PostgresUserStore::migrate(std::string& message) {
  auto exec = [&](const char* sql) {
    PgResult r(PQexec(conn_, sql));
    if (!r.ok()) message = PQresultErrorMessage(r.get());
    return r.ok();
  };
  if (!exec("BEGIN")) return fail(Errc::store_failed);
  // One migrating server at a time (a transaction-scoped lock; the number is Culvert's own).
  bool ok = exec("SELECT pg_advisory_xact_lock(7364529)") &&
            exec("CREATE TABLE IF NOT EXISTS culvert_schema (version INTEGER NOT NULL)");
  int current = 0;
  if (ok) {
    PgResult r(PQexec(conn_, "SELECT version FROM culvert_schema"));
    ok = r.ok();
    if (ok && r.rows() > 0) current = static_cast<int>(r.integer(0, 0));
    if (ok && r.rows() == 0) ok = exec("INSERT INTO culvert_schema VALUES (0)");
  }
  if (ok && current > kSchemaVersion) {
    message = "the database was written by a newer Culvert (schema " + std::to_string(current) + ")";
    ok = false;
  }
  for (int v = current; ok && v < kSchemaVersion; ++v) {
    ok = exec(kMigrations[v]) && exec(("UPDATE culvert_schema SET version = " + std::to_string(v + 1)).c_str());
  }
  if (!ok) {
    exec("ROLLBACK");
    return fail(Errc::store_failed);
  }
  if (!exec("COMMIT")) return fail(Errc::store_failed);
  return {};
}

Result<User> PostgresUserStore::add(const std::string& name) {
  if (!valid_user_name(name)) return fail(Errc::bad_config);
  if (!connected()) return fail(Errc::store_failed);
  User u;
  u.name = name;
  u.credential = generate_credential();
  u.created_at = unix_now();
  Params p;
  p.text(u.name).bytes(u.credential.key_id).bytes(u.credential.secret).number(u.created_at);
  PgResult r(run(conn_, "INSERT INTO users(name, key_id, secret, created_at) VALUES($1, $2, $3, $4)", p));
  if (!r.ok()) return fail(Errc::store_failed);
  return u;
}

Result<std::vector<User>> PostgresUserStore::list() {
  if (!connected()) return fail(Errc::store_failed);
  std::string sql = std::string(kColumns) + " ORDER BY created_at, name";
  PgResult r(PQexec(conn_, sql.c_str()));
  if (!r.ok()) return fail(Errc::store_failed);
  std::vector<User> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(user_from(r, i));
  return out;
}

Result<User> PostgresUserStore::get(const std::string& name) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  p.text(name);
  std::string sql = std::string(kColumns) + " WHERE name = $1";
  PgResult r(run(conn_, sql.c_str(), p));
  if (!r.ok() || r.rows() != 1) return fail(Errc::store_failed);
  return user_from(r, 0);
}

Result<void> PostgresUserStore::revoke(const std::string& name) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  p.text(name);
  PgResult r(run(conn_, "UPDATE users SET revoked = TRUE WHERE name = $1", p));
  if (!r.ok() || std::string(PQcmdTuples(r.get())) != "1") return fail(Errc::store_failed);
  return {};
}

Result<void> PostgresUserStore::restore(const std::string& name) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  p.text(name);
  PgResult r(run(conn_, "UPDATE users SET revoked = FALSE WHERE name = $1", p));
  if (!r.ok() || std::string(PQcmdTuples(r.get())) != "1") return fail(Errc::store_failed);
  return {};
}

Result<void> PostgresUserStore::remove(const std::string& name) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  p.text(name);
  PgResult r(run(conn_, "DELETE FROM users WHERE name = $1", p));
  if (!r.ok() || std::string(PQcmdTuples(r.get())) != "1") return fail(Errc::store_failed);
  return {};
}

Result<User> PostgresUserStore::update(const std::string& name, const UserChanges& c) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  if (c.quota_bytes)
    p.number(static_cast<std::int64_t>(*c.quota_bytes));
  else
    p.null();
  if (c.expires_at)
    p.number(*c.expires_at);
  else
    p.null();
  if (c.max_tunnels)
    p.number(*c.max_tunnels);
  else
    p.null();
  if (c.notes)
    p.text(*c.notes);
  else
    p.null();
  p.text(name);
  PgResult r(run(conn_,
                 "UPDATE users SET quota_bytes = coalesce($1::bigint, quota_bytes),"
                 " expires_at = coalesce($2::bigint, expires_at), max_tunnels = coalesce($3::integer, max_tunnels),"
                 " notes = coalesce($4::text, notes) WHERE name = $5",
                 p));
  if (!r.ok() || std::string(PQcmdTuples(r.get())) != "1") return fail(Errc::store_failed);
  return get(name);
}

Result<User> PostgresUserStore::rotate(const std::string& name, std::int64_t grace_seconds, std::int64_t now) {
  if (!connected()) return fail(Errc::store_failed);
  auto fresh = generate_credential();
  Params p;
  p.number(now + grace_seconds).bytes(fresh.key_id).bytes(fresh.secret).text(name);
  PgResult r(run(conn_,
                 "UPDATE users SET previous_key_id = key_id, previous_secret = secret, previous_until = $1,"
                 " key_id = $2, secret = $3 WHERE name = $4",
                 p));
  if (!r.ok() || std::string(PQcmdTuples(r.get())) != "1") return fail(Errc::store_failed);
  return get(name);
}

Result<std::optional<User>> PostgresUserStore::find_active(const std::array<std::uint8_t, 8>& key_id,
                                                           std::int64_t now) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  p.bytes(key_id).number(now);
  std::string sql = std::string(kColumns) + " WHERE key_id = $1 OR (previous_key_id = $1 AND previous_until > $2)";
  PgResult r(run(conn_, sql.c_str(), p));
  if (!r.ok()) return fail(Errc::store_failed);
  if (r.rows() == 0) return std::optional<User>();
  auto user = user_from(r, 0);
  if (!user.usable(now)) return std::optional<User>();
  if (user.credential.key_id != key_id && user.previous) user.credential = *user.previous;
  return std::optional<User>(std::move(user));
}

Result<void> PostgresUserStore::add_usage(const std::vector<UsageDelta>& deltas, std::int64_t now) {
  if (deltas.empty()) return {};
  if (!connected()) return fail(Errc::store_failed);
  PgResult begin(PQexec(conn_, "BEGIN"));
  if (!begin.ok()) return fail(Errc::store_failed);
  auto month = month_start(now);
  for (const auto& d : deltas) {
    Params p;
    p.number(month).number(static_cast<std::int64_t>(d.up)).number(static_cast<std::int64_t>(d.down)).text(d.name);
    // Row-level: concurrent flushes from several servers serialize on the row and all add up.
    PgResult r(run(conn_,
                   "UPDATE users SET"
                   " used_up = CASE WHEN period_start < $1 THEN $2 ELSE used_up + $2 END,"
                   " used_down = CASE WHEN period_start < $1 THEN $3 ELSE used_down + $3 END,"
                   " period_start = GREATEST(period_start, $1) WHERE name = $4",
                   p));
    if (!r.ok()) {
      PgResult rollback(PQexec(conn_, "ROLLBACK"));
      return fail(Errc::store_failed);
    }
  }
  PgResult commit(PQexec(conn_, "COMMIT"));
  if (!commit.ok()) return fail(Errc::store_failed);
  return {};
}

Result<std::vector<FleetEntry>> PostgresUserStore::fleet() {
  if (!connected()) return fail(Errc::store_failed);
  PgResult r(PQexec(conn_, "SELECT name, link FROM fleet ORDER BY name"));
  if (!r.ok()) return fail(Errc::store_failed);
  std::vector<FleetEntry> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1)});
  return out;
}

Result<void> PostgresUserStore::fleet_put(const FleetEntry& entry) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  p.text(entry.name).text(entry.link);
  PgResult r(run(
      conn_, "INSERT INTO fleet(name, link) VALUES($1, $2) ON CONFLICT(name) DO UPDATE SET link = EXCLUDED.link", p));
  if (!r.ok()) return fail(Errc::store_failed);
  return {};
}

Result<void> PostgresUserStore::fleet_remove(const std::string& name) {
  if (!connected()) return fail(Errc::store_failed);
  Params p;
  p.text(name);
  PgResult r(run(conn_, "DELETE FROM fleet WHERE name = $1", p));
  if (!r.ok() || std::string(PQcmdTuples(r.get())) != "1") return fail(Errc::store_failed);
  return {};
}

Result<std::array<std::uint8_t, 32>> PostgresUserStore::shared_secret(const std::string& purpose) {
  if (!connected()) return fail(Errc::store_failed);
  // Insert a fresh one unless there is one, then read whichever won (another server may race).
  Params insert;
  insert.text(purpose).bytes(generate_credential().secret);
  PgResult ins(run(conn_, "INSERT INTO secrets(purpose, value) VALUES($1, $2) ON CONFLICT DO NOTHING", insert));
  if (!ins.ok()) return fail(Errc::store_failed);
  Params p;
  p.text(purpose);
  PgResult r(run(conn_, "SELECT value FROM secrets WHERE purpose = $1", p));
  std::array<std::uint8_t, 32> out{};
  if (!r.ok() || r.rows() != 1 || !hex_bytes(r, 0, 0, out)) return fail(Errc::store_failed);
  return out;
}

}  // namespace culvert
