// UniqueFd owns a POSIX file descriptor; Linux only (the Windows build has
// no file-descriptor layers yet).
#include "base/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace zl {
namespace {

TEST(UniqueFdTest, ClosesOnDestructionAndRelease) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  { UniqueFd a(fds[0]); }
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);
  UniqueFd b(fds[1]);
  int raw = b.Release();
  EXPECT_FALSE(b.valid());
  EXPECT_NE(fcntl(raw, F_GETFD), -1);
  close(raw);
}

}  // namespace
}  // namespace zl
