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

TEST_F(SqliteUserStoreTest, AddsListsAndFindsUsers) {
  auto store = SqliteUserStore::open(path_).value();
  auto alice = store->add("alice").value();
  auto bob = store->add("bob").value();
  EXPECT_NE(alice.credential.key_id, bob.credential.key_id);
  EXPECT_EQ(store->list().value().size(), 2u);
  auto found = store->find_active(alice.credential.key_id).value();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(found->credential.secret, alice.credential.secret);
}

TEST_F(SqliteUserStoreTest, RevokedUsersAreNotFoundByAnotherConnection) {
  auto server_view = SqliteUserStore::open(path_).value();
  auto admin_view = SqliteUserStore::open(path_).value();
  auto alice = admin_view->add("alice").value();
  EXPECT_TRUE(server_view->find_active(alice.credential.key_id).value());
  ASSERT_TRUE(admin_view->revoke("alice"));
  EXPECT_FALSE(server_view->find_active(alice.credential.key_id).value());
  EXPECT_TRUE(server_view->get("alice").value().revoked);
}

TEST_F(SqliteUserStoreTest, RejectsDuplicateAndInvalidNamesAndUnknownRevocations) {
  auto store = SqliteUserStore::open(path_).value();
  ASSERT_TRUE(store->add("alice"));
  EXPECT_FALSE(store->add("alice"));
  EXPECT_FALSE(store->add("has space"));
  EXPECT_FALSE(store->add(""));
  EXPECT_FALSE(store->revoke("nobody"));
}

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

TEST_F(SqliteUserStoreTest, UnopenablePathIsAnError) {
  EXPECT_FALSE(SqliteUserStore::open((dir_ / "missing" / "users.db").string()));
}

}  // namespace culvert
