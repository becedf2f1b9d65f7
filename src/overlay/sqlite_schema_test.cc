// The SQLite store's file: modes, refusals of what is not our store, and
// persistence across reopening.
#include <sys/stat.h>

#include "overlay/sqlite_store_test_util.h"

namespace zl::overlay {
namespace {

using namespace store_test;  // NOLINT: the store tests' helpers
namespace fs = std::filesystem;

// --- opening ---

TEST_F(SqliteStoreTest, FilesAreMode0600WhateverTheUmask) {
  store_.reset();
  fs::remove(path_);
  mode_t old = umask(022);
  store_ = Open();
  umask(old);
  Init();
  Token(1);
  for (const std::string& f : {path_, path_ + "-wal", path_ + "-shm"}) {
    struct stat st {};
    ASSERT_EQ(stat(f.c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
}

TEST_F(SqliteStoreTest, OpeningTightensALooserMode) {
  store_.reset();
  chmod(path_.c_str(), 0644);
  store_ = Open();
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SqliteStoreTest, MissingDirectoryOrFileIsENOENT) {
  auto r = OpenSqliteStore(dir_.File("no/such/dir/store.db"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOENT);
  EXPECT_NE(r.error().message().find("does not exist"), std::string::npos);
  SqliteStoreOptions no_create;
  no_create.create = false;
  EXPECT_ERRNO(OpenSqliteStore(dir_.File("other.db"), no_create), ENOENT);
  EXPECT_FALSE(fs::exists(dir_.File("other.db")));
  EXPECT_TRUE(OpenSqliteStore(path_, no_create).ok());
}

TEST_F(SqliteStoreTest, DataSurvivesReopening) {
  Init();
  Join(1, "web");
  Token(2, "db");
  const uint64_t revision = Revision();
  store_.reset();
  store_ = Open();
  EXPECT_EQ(Revision(), revision);
  ASSERT_OK(store_->FindMember("web"));
  auto tokens = store_->Tokens();
  ASSERT_OK(tokens);
  EXPECT_EQ(tokens->size(), 2u);
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, RefusesAFileThatIsNotADatabase) {
  store_.reset();
  WriteFile(path_, std::string(8192, 'x'));
  auto r = OpenSqliteStore(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_NE(r.error().message().find("cannot be used"), std::string::npos)
      << r.error().message();
}

TEST_F(SqliteStoreTest, RefusesADatabaseOfAnotherApplication) {
  store_.reset();
  const std::string other = dir_.File("other.db");
  RawSql(other, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);");
  auto r = OpenSqliteStore(other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_NE(r.error().message().find("another application"), std::string::npos)
      << r.error().message();
}

TEST_F(SqliteStoreTest, RefusesANewerSchema) {
  Init();
  store_.reset();
  RawSql(path_, "PRAGMA user_version = 2");
  auto r = OpenSqliteStore(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_NE(r.error().message().find("newer zlayer-overlay (schema version 2"),
            std::string::npos)
      << r.error().message();
}

TEST_F(SqliteStoreTest, RefusesACorruptFile) {
  Init();
  for (uint32_t i = 1; i <= 40; ++i) Join(i, "node-" + std::to_string(i));
  store_.reset();
  RawSql(path_, "PRAGMA wal_checkpoint(TRUNCATE)");
  // Scribble over the pages after the first (the header stays valid).
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 100);
    const std::string junk(3 * 4096, '\x5a');
    f.write(junk.data(), std::streamsize(junk.size()));
  }
  auto r = OpenSqliteStore(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  EXPECT_NE(r.error().message().find("cannot be used"), std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace zl::overlay
