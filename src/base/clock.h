#pragma once
// Time as the project uses it: a monotonic instant for timers and a wall-clock
// instant for TAI64N timestamps and "latest handshake" reports.
//
// The monotonic instant is boot time (BootClock, Linux CLOCK_BOOTTIME): it
// never goes back and, unlike CLOCK_MONOTONIC (std::chrono::steady_clock),
// keeps counting while the machine is suspended. The protocol's limits are
// real time: a keypair older than REJECT_AFTER_TIME must not be used after a
// resume, and keys must be zeroed 3 x REJECT_AFTER_TIME after the last
// handshake however long the machine slept (the kernel's timers.h uses boot
// time too). Never mix MonoTime with steady_clock readings.
//
// The protocol core never reads a clock; it is given a `Now` by its caller.
// The device reads a Clock; tests use FakeClock and advance it by hand.
//
// Thread safety: SystemClock is thread-safe; FakeClock is not.

#include <chrono>

namespace zl {

using Duration = std::chrono::nanoseconds;

// CLOCK_BOOTTIME as a std::chrono clock (CLOCK_MONOTONIC where the platform
// has no boot-time clock).
struct BootClock {
  using duration = Duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<BootClock, duration>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept;
};

using MonoTime = BootClock::time_point;
using WallTime = std::chrono::time_point<std::chrono::system_clock, Duration>;

// One reading of both clocks, taken together.
struct Now {
  MonoTime mono;
  WallTime wall;
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Now Read() const = 0;
};

class SystemClock final : public Clock {
 public:
  Now Read() const override;
};

// A clock that moves only when told to. Starts at an arbitrary non-zero time
// (monotonic 1000 s, wall 2026-01-01T00:00:00Z) so "zero" never means "never".
class FakeClock final : public Clock {
 public:
  Now Read() const override { return now_; }
  void Advance(Duration d) {
    now_.mono += d;
    now_.wall += d;
  }

 private:
  Now now_{MonoTime(std::chrono::seconds(1000)),
           WallTime(std::chrono::seconds(1767225600))};
};

}  // namespace zl
