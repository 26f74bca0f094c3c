// The UserStore contract, run against every backend: memory, SQLite (a temp file) and PostgreSQL
// (the throwaway cluster the test command starts; its connection string in the file named by
// CULVERT_TEST_POSTGRES_FILE). Each PostgreSQL test works in a schema of its own.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "store/memory_user_store.h"
#include "store/postgres_user_store.h"
#include "store/sqlite_user_store.h"

namespace culvert {
namespace {

std::string postgres_conninfo() {
  const char* file = std::getenv("CULVERT_TEST_POSTGRES_FILE");
  if (!file) return "";
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

class UserStoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string tag = std::to_string(::getpid()) + "_" + std::to_string(std::hash<std::string>()(test) % 100000);
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("culvert-contract-" + tag);
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
    } else if (GetParam() == "postgres") {
      auto conninfo = postgres_conninfo();
      if (conninfo.empty()) GTEST_SKIP() << "no PostgreSQL (CULVERT_TEST_POSTGRES_FILE unset): run scripts/test.sh";
      schema_ = "t" + tag;
      PGconn* admin = PQconnectdb(conninfo.c_str());
      ASSERT_EQ(PQstatus(admin), CONNECTION_OK) << PQerrorMessage(admin);
      PQsetNoticeProcessor(
          admin, [](void*, const char*) {}, nullptr);
      auto sql = "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE; CREATE SCHEMA " + schema_;
      PQclear(PQexec(admin, sql.c_str()));
      PQfinish(admin);
      conninfo_ = conninfo + " options='-csearch_path=" + schema_ + "'";
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (!schema_.empty()) {
      PGconn* admin = PQconnectdb(postgres_conninfo().c_str());
      PQsetNoticeProcessor(
          admin, [](void*, const char*) {}, nullptr);
      auto sql = "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE";
      PQclear(PQexec(admin, sql.c_str()));
      PQfinish(admin);
    }
  }
  // Another handle on the same users: another server (its own connection).
  std::unique_ptr<UserStore> open() {
    if (GetParam() == "memory") {
      if (!memory_) memory_ = std::make_shared<MemoryUserStore>();
      return std::make_unique<SharedMemory>(memory_);
    }
    if (GetParam() == "sqlite") return std::move(SqliteUserStore::open((dir_ / "users.db").string()).value());
    std::string message;
    auto store = PostgresUserStore::open(conninfo_, message);
    EXPECT_TRUE(store) << message;
    return std::move(*store);
  }
  bool concurrent() const { return GetParam() != "memory"; }

  // The memory store seen through two handles, like two connections to one database.
  struct SharedMemory final : UserStore {
    explicit SharedMemory(std::shared_ptr<MemoryUserStore> s) : s(std::move(s)) {}
    Result<User> add(const std::string& n) override { return s->add(n); }
    Result<std::vector<User>> list() override { return s->list(); }
    Result<User> get(const std::string& n) override { return s->get(n); }
    Result<void> revoke(const std::string& n) override { return s->revoke(n); }
    Result<void> restore(const std::string& n) override { return s->restore(n); }
    Result<void> remove(const std::string& n) override { return s->remove(n); }
    Result<User> update(const std::string& n, const UserChanges& c) override { return s->update(n, c); }
    Result<User> rotate(const std::string& n, std::int64_t g, std::int64_t now) override {
      return s->rotate(n, g, now);
    }
    Result<std::optional<User>> find_active(const std::array<std::uint8_t, 8>& k, std::int64_t now) override {
      return s->find_active(k, now);
    }
    Result<void> add_usage(const std::vector<UsageDelta>& d, std::int64_t now) override { return s->add_usage(d, now); }
    Result<std::vector<FleetEntry>> fleet() override { return s->fleet(); }
    Result<void> fleet_put(const FleetEntry& e) override { return s->fleet_put(e); }
    Result<void> fleet_remove(const std::string& n) override { return s->fleet_remove(n); }
    Result<std::array<std::uint8_t, 32>> shared_secret(const std::string& p) override { return s->shared_secret(p); }
    std::shared_ptr<MemoryUserStore> s;
  };

  std::filesystem::path dir_;
  std::string schema_;
  std::string conninfo_;
  std::shared_ptr<MemoryUserStore> memory_;
};

constexpr std::int64_t kNov = 1795910400;  // 2026-11-29T00:00:00Z
constexpr std::int64_t kDec = 1796083200;  // 2026-12-01T00:00:00Z

TEST_P(UserStoreContract, TheFleetAndSharedSecretsAreTheSameForEveryServer) {
  auto one = open();
  auto two = open();  // another server on the same store
  ASSERT_TRUE(one->fleet_put({"tokyo", "culvert://link-a"}));
  ASSERT_TRUE(one->fleet_put({"osaka", "culvert://link-b"}));
  ASSERT_TRUE(two->fleet_put({"tokyo", "culvert://link-a2"}));  // replaces
  auto fleet = one->fleet();
  ASSERT_TRUE(fleet);
  ASSERT_EQ(fleet->size(), 2u);
  EXPECT_EQ((*fleet)[0].name, "osaka");
  EXPECT_EQ((*fleet)[1].link, "culvert://link-a2");
  ASSERT_TRUE(two->fleet_remove("osaka"));
  EXPECT_FALSE(two->fleet_remove("osaka"));
  EXPECT_EQ(one->fleet()->size(), 1u);
  auto secret = one->shared_secret("subscription");
  ASSERT_TRUE(secret);
  EXPECT_EQ(two->shared_secret("subscription").value(), *secret);
  EXPECT_NE(two->shared_secret("other").value(), *secret);
}

TEST_P(UserStoreContract, RevocationCanBeUndoneAndANameDeletedAndReused) {
  auto store = open();
  auto user = store->add("dave");
  ASSERT_TRUE(user);
  auto key = user->credential.key_id;
  ASSERT_TRUE(store->revoke("dave"));
  EXPECT_FALSE(store->find_active(key, kNov).value());
  ASSERT_TRUE(store->restore("dave"));
  auto back = store->find_active(key, kNov);
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->name, "dave");  // the same link works again
  ASSERT_TRUE(store->remove("dave"));
  EXPECT_FALSE(store->get("dave"));
  EXPECT_FALSE(store->find_active(key, kNov).value());
  EXPECT_FALSE(store->restore("dave"));
  EXPECT_FALSE(store->remove("dave"));
  auto again = store->add("dave");  // the name is free again, with a new key
  ASSERT_TRUE(again);
  EXPECT_NE(again->credential.key_id, key);
}

TEST_P(UserStoreContract, AddsListsGetsAndFindsUsers) {
  auto store = open();
  auto alice = store->add("alice").value();
  auto bob = store->add("bob").value();
  EXPECT_NE(alice.credential.key_id, bob.credential.key_id);
  EXPECT_EQ(store->list().value().size(), 2u);
  EXPECT_EQ(store->get("bob").value().credential.secret, bob.credential.secret);
  auto found = store->find_active(alice.credential.key_id, kNov).value();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(found->credential.secret, alice.credential.secret);
  std::array<std::uint8_t, 8> unknown{};
  EXPECT_FALSE(store->find_active(unknown, kNov).value());
}

TEST_P(UserStoreContract, RefusesDuplicateAndInvalidNamesAndUnknownUsers) {
  auto store = open();
  ASSERT_TRUE(store->add("alice"));
  EXPECT_FALSE(store->add("alice"));
  EXPECT_FALSE(store->add("has space"));
  EXPECT_FALSE(store->add(""));
  EXPECT_FALSE(store->revoke("nobody"));
  EXPECT_FALSE(store->get("nobody"));
  EXPECT_FALSE(store->rotate("nobody", 0, kNov));
  UserChanges c;
  c.notes = "x";
  EXPECT_FALSE(store->update("nobody", c));
}

TEST_P(UserStoreContract, ARevocationIsSeenByAnotherServer) {
  auto admin = open();
  auto server = open();
  auto alice = admin->add("alice").value();
  EXPECT_TRUE(server->find_active(alice.credential.key_id, kNov).value());
  ASSERT_TRUE(admin->revoke("alice"));
  EXPECT_FALSE(server->find_active(alice.credential.key_id, kNov).value());
  EXPECT_TRUE(server->get("alice").value().revoked);
  EXPECT_EQ(server->get("alice").value().status(kNov), "revoked");
}

TEST_P(UserStoreContract, UpdateChangesOnlyWhatItNamesAndExpiryEndsAccess) {
  auto store = open();
  auto alice = store->add("alice").value();
  UserChanges c;
  c.expires_at = kNov + 3600;
  c.notes = "laptop and phone";
  auto updated = store->update("alice", c).value();
  EXPECT_EQ(updated.expires_at, kNov + 3600);
  EXPECT_EQ(updated.notes, "laptop and phone");
  EXPECT_EQ(updated.quota_bytes, 0u);
  UserChanges q;
  q.quota_bytes = 5000;
  q.max_tunnels = 3;
  updated = store->update("alice", q).value();
  EXPECT_EQ(updated.notes, "laptop and phone");
  EXPECT_EQ(updated.quota_bytes, 5000u);
  EXPECT_EQ(updated.max_tunnels, 3u);
  EXPECT_TRUE(store->find_active(alice.credential.key_id, kNov + 3599).value());
  EXPECT_FALSE(store->find_active(alice.credential.key_id, kNov + 3600).value());
  EXPECT_EQ(store->get("alice").value().status(kNov + 3600), "expired");
}

TEST_P(UserStoreContract, QuotaCountsUsageAndANewMonthStartsFromZero) {
  auto store = open();
  auto alice = store->add("alice").value();
  UserChanges q;
  q.quota_bytes = 1000;
  store->update("alice", q).value();
  ASSERT_TRUE(store->add_usage({{"alice", 300, 500}, {"nobody", 1, 1}}, kNov));
  auto u = store->get("alice").value();
  EXPECT_EQ(u.used_up, 300u);
  EXPECT_EQ(u.used_down, 500u);
  EXPECT_TRUE(store->find_active(alice.credential.key_id, kNov).value());
  ASSERT_TRUE(store->add_usage({{"alice", 0, 200}}, kNov + 60));
  EXPECT_FALSE(store->find_active(alice.credential.key_id, kNov + 60).value());
  EXPECT_EQ(store->get("alice").value().status(kNov + 60), "over quota");
  // December: last month's usage no longer counts, and the next flush starts the new period.
  EXPECT_TRUE(store->find_active(alice.credential.key_id, kDec + 1).value());
  ASSERT_TRUE(store->add_usage({{"alice", 10, 20}}, kDec + 1));
  u = store->get("alice").value();
  EXPECT_EQ(u.period_start, kDec);
  EXPECT_EQ(u.used_up, 10u);
  EXPECT_EQ(u.used_down, 20u);
}

TEST_P(UserStoreContract, RotationKeepsTheOldKeyForItsGracePeriodOnly) {
  auto store = open();
  auto before = store->add("alice").value();
  auto after = store->rotate("alice", 600, kNov).value();
  EXPECT_NE(after.credential.key_id, before.credential.key_id);
  ASSERT_TRUE(after.previous);
  EXPECT_EQ(after.previous->key_id, before.credential.key_id);
  auto old_key = store->find_active(before.credential.key_id, kNov + 599).value();
  ASSERT_TRUE(old_key);
  EXPECT_EQ(old_key->credential.secret, before.credential.secret);  // the matching secret
  EXPECT_FALSE(store->find_active(before.credential.key_id, kNov + 600).value());
  auto new_key = store->find_active(after.credential.key_id, kNov + 600).value();
  ASSERT_TRUE(new_key);
  EXPECT_EQ(new_key->credential.secret, after.credential.secret);
}

TEST_P(UserStoreContract, ConcurrentFlushesFromTwoServersAllAddUp) {
  if (!concurrent()) GTEST_SKIP() << "the memory store is single-threaded";
  open()->add("alice").value();
  constexpr int kFlushes = 200;
  auto flush = [&](std::uint64_t up, std::uint64_t down) {
    auto server = open();
    for (int i = 0; i < kFlushes; ++i) ASSERT_TRUE(server->add_usage({{"alice", up, down}}, kNov));
  };
  std::thread a(flush, 1, 10);
  std::thread b(flush, 100, 1000);
  a.join();
  b.join();
  auto u = open()->get("alice").value();
  EXPECT_EQ(u.used_up, kFlushes * 101u);
  EXPECT_EQ(u.used_down, kFlushes * 1010u);
}

INSTANTIATE_TEST_SUITE_P(Backends, UserStoreContract, ::testing::Values("memory", "sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace culvert
