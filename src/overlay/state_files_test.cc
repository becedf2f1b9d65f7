#include "overlay/state_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "base/bytes.h"

namespace zl::overlay {
namespace {

class StateFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zl-state-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }
  int Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  std::string root_;
};

TEST_F(StateFilesTest, StateDirIsCreatedPrivate) {
  const std::string dir = root_ + "/a/b/state";
  ASSERT_TRUE(EnsureStateDir(dir).ok());
  EXPECT_EQ(Mode(dir), 0700);
}

TEST_F(StateFilesTest, OpenStateDirIsTightened) {
  const std::string dir = root_ + "/open";
  ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  ASSERT_TRUE(EnsureStateDir(dir).ok());
  EXPECT_EQ(Mode(dir), 0700);
}

TEST_F(StateFilesTest, StateDirThatIsAFileIsRefused) {
  const std::string path = root_ + "/file";
  std::ofstream(path) << "x";
  auto r = EnsureStateDir(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOTDIR);
}

TEST_F(StateFilesTest, AtomicWriteReplacesWholeFileWithMode0600AndLeavesNoTemporary) {
  const std::string path = root_ + "/node.json";
  ASSERT_TRUE(WriteFileAtomic(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "second, longer").ok());
  auto text = ReadFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "second, longer");
  EXPECT_EQ(Mode(path), 0600);
  int entries = 0;
  FILE* ls = ::popen(("ls -A " + root_ + " | wc -l").c_str(), "r");
  ASSERT_NE(ls, nullptr);
  ASSERT_EQ(std::fscanf(ls, "%d", &entries), 1);
  ::pclose(ls);
  EXPECT_EQ(entries, 1);
}

TEST_F(StateFilesTest, ReadFileRefusesHugeFiles) {
  const std::string path = root_ + "/big";
  ASSERT_TRUE(WriteFileAtomic(path, std::string(100, 'x')).ok());
  auto r = ReadFile(path, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EFBIG);
}

TEST_F(StateFilesTest, IdentityIsCreatedOnceThenLoaded) {
  crypto::SystemRng rng;
  bool created = false;
  auto first = LoadOrCreateIdentity(root_, rng, &created);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(created);
  EXPECT_EQ(Mode(IdentityPath(root_)), 0600);
  auto second = LoadOrCreateIdentity(root_, rng, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_TRUE(*first == *second);
}

TEST_F(StateFilesTest, CorruptIdentityIsRefusedNotReplaced) {
  ASSERT_TRUE(WriteFileAtomic(IdentityPath(root_), "not a key\n").ok());
  crypto::SystemRng rng;
  auto r = LoadOrCreateIdentity(root_, rng);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
  auto text = ReadFile(IdentityPath(root_));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "not a key\n");
}

TEST_F(StateFilesTest, IdentityReadableByOthersIsRefused) {
  crypto::SystemRng rng;
  ASSERT_TRUE(LoadOrCreateIdentity(root_, rng).ok());
  ASSERT_EQ(::chmod(IdentityPath(root_).c_str(), 0644), 0);
  auto r = LoadOrCreateIdentity(root_, rng);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EPERM);
  EXPECT_NE(r.error().message().find("chmod 600"), std::string::npos);
}

}  // namespace
}  // namespace zl::overlay
