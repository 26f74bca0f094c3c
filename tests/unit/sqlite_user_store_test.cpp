#include "store/sqlite_user_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sqlite3.h>
#include <unistd.h>
#include <filesystem>

namespace culvert {
namespace {

class SqliteUserStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("culvert-store-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "users.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace

TEST_F(SqliteUserStoreTest, SurvivesReopenAndKeepsTheFileOwnerOnly) {
  {
    auto store = SqliteUserStore::open(path_).value();
    ASSERT_TRUE(store->add("alice"));
  }
  auto store = SqliteUserStore::open(path_).value();
  EXPECT_EQ(store->list().value().size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_F(SqliteUserStoreTest, RefusesADatabaseFromANewerSchema) {
  { auto store = SqliteUserStore::open(path_).value(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_FALSE(SqliteUserStore::open(path_));
}

TEST_F(SqliteUserStoreTest, MigratesAVersionOneDatabaseKeepingItsUsers) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE users (name TEXT PRIMARY KEY, key_id BLOB NOT NULL UNIQUE, secret BLOB NOT NULL,"
                         " created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
                         "INSERT INTO users VALUES('old', x'0102030405060708',"
                         " x'0000000000000000000000000000000000000000000000000000000000000000', 5, 0);"
                         "PRAGMA user_version=1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteUserStore::open(path_).value();
  auto old = store->get("old").value();
  EXPECT_EQ(old.created_at, 5);
  EXPECT_EQ(old.quota_bytes, 0u);
  EXPECT_TRUE(store->find_active(old.credential.key_id, 100).value());
}

TEST_F(SqliteUserStoreTest, UnopenablePathIsAnError) {
  EXPECT_FALSE(SqliteUserStore::open((dir_ / "missing" / "users.db").string()));
}

}  // namespace culvert
