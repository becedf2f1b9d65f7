// SystemClock: its monotonic reading is boot time (CLOCK_BOOTTIME), which
// keeps counting while the machine is suspended.

#include "base/clock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace zl {
namespace {

using std::chrono::seconds;

Duration ReadClock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// True if SystemClock's monotonic reading lies between two CLOCK_BOOTTIME
// readings taken around it.
bool MonoIsBetweenBootTimeReadings() {
  const Duration before = ReadClock(CLOCK_BOOTTIME);
  const MonoTime mono = SystemClock().Read().mono;
  const Duration after = ReadClock(CLOCK_BOOTTIME);
  return mono.time_since_epoch() >= before && mono.time_since_epoch() <= after;
}

TEST(SystemClockTest, MonoIsBootTime) {
  EXPECT_TRUE(MonoIsBetweenBootTimeReadings());
  const MonoTime a = BootClock::now();
  const MonoTime b = SystemClock().Read().mono;
  EXPECT_LE(a, b);
}

// A machine that never slept has boot time equal to monotonic time, which
// would hide the difference. A time namespace whose boot time runs a day
// ahead of its monotonic time looks like a machine resumed after a day of
// suspend; a child process in it checks the clock.
TEST(SystemClockTest, MonoCountsTimeSpentSuspended) {
  constexpr int kSkip = 77;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only this child and its children see the new namespace.
    if (unshare(CLONE_NEWTIME) != 0) _exit(kSkip);
    const int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    static constexpr char kOffsets[] = "boottime 86400 0\n";
    if (fd < 0 || write(fd, kOffsets, sizeof(kOffsets) - 1) < 0) _exit(kSkip);
    close(fd);
    const pid_t inside = fork();
    if (inside < 0) _exit(2);
    if (inside == 0) {
      const bool apart =
          ReadClock(CLOCK_BOOTTIME) - ReadClock(CLOCK_MONOTONIC) >=
          seconds(86400);
      _exit(!apart ? kSkip : MonoIsBetweenBootTimeReadings() ? 0 : 1);
    }
    int status = 0;
    if (waitpid(inside, &status, 0) != inside || !WIFEXITED(status)) _exit(2);
    _exit(WEXITSTATUS(status));
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kSkip) {
    GTEST_SKIP() << "no time namespace (needs CAP_SYS_ADMIN, Linux >= 5.6)";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "with boot time a day ahead of monotonic time, SystemClock's mono "
         "reading did not follow boot time";
}

}  // namespace
}  // namespace zl
