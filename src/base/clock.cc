#include "base/clock.h"

#include <time.h>

namespace zl {

BootClock::time_point BootClock::now() noexcept {
#ifdef CLOCK_BOOTTIME
  constexpr clockid_t kClock = CLOCK_BOOTTIME;
#else
  constexpr clockid_t kClock = CLOCK_MONOTONIC;
#endif
  timespec ts{};
  // Cannot fail for a supported clock id and a valid pointer.
  clock_gettime(kClock, &ts);
  return time_point(std::chrono::seconds(ts.tv_sec) +
                    std::chrono::nanoseconds(ts.tv_nsec));
}

Now SystemClock::Read() const {
  return Now{BootClock::now(),
             std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now())};
}

}  // namespace zl
