// SystemClock on Windows: its monotonic reading is the boot-relative
// interrupt time that counts sleep (clock_win.cc), and its wall reading is
// the system time. Suspend itself cannot be simulated in a test; these check
// the units and the source.
#include <windows.h>

#include <gtest/gtest.h>

#include <chrono>

#include "base/clock.h"

namespace zl {
namespace {

using std::chrono::milliseconds;

// GetTickCount64 counts milliseconds since boot, sleep included: the mono
// reading must agree with it to within a few system ticks.
TEST(SystemClockWinTest, MonoIsTimeSinceBootIncludingSleep) {
  const ULONGLONG before = GetTickCount64();
  const MonoTime mono = SystemClock().Read().mono;
  const ULONGLONG after = GetTickCount64();
  EXPECT_GE(mono.time_since_epoch(), milliseconds(before) - milliseconds(50));
  EXPECT_LE(mono.time_since_epoch(), milliseconds(after) + milliseconds(50));
}

TEST(SystemClockWinTest, MonoNeverGoesBackAndAdvances) {
  const MonoTime start = BootClock::now();
  MonoTime last = start;
  // Bounded: at most 2 s of polling, ending once 30 ms have passed.
  for (int i = 0; i < 200 && last - start < milliseconds(30); ++i) {
    Sleep(10);
    const MonoTime now = BootClock::now();
    ASSERT_GE(now, last);
    last = now;
  }
  EXPECT_GE(last - start, milliseconds(30));
}

TEST(SystemClockWinTest, WallIsUnixTime) {
  const auto ours = SystemClock().Read().wall.time_since_epoch();
  const auto libc = std::chrono::seconds(std::time(nullptr));
  EXPECT_LT(std::chrono::abs(ours - libc), std::chrono::seconds(2));
  // After 2020-01-01: the epoch conversion is not off by centuries.
  EXPECT_GT(ours, std::chrono::seconds(1577836800));
}

}  // namespace
}  // namespace zl
