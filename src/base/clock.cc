#include "base/clock.h"

namespace zl {

Now SystemClock::Read() const {
  return Now{std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now()),
             std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now())};
}

}  // namespace zl
