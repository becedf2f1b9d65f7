#pragma once
// TimerQueue: the timers of one EventLoop, apart from the OS timer that wakes
// the loop, so that every platform's loop orders and fires them the same way.
//
// Each timer has a deadline on boot time (zl::MonoTime, read from
// zl::BootClock by the loop) and an interval (zero: one-shot). RunDue(now)
// fires the due timers in deadline order, equal deadlines in creation order;
// a one-shot is removed as it fires; a periodic timer that fell behind skips
// the ticks it missed rather than firing a burst.
//
// The loop has one OS timer (timerfd, waitable timer) for all of them: the
// queue calls its `arm` function whenever the earliest deadline differs from
// the one last armed (nullopt: disarm), and the loop calls RunDue when the OS
// timer fires. Cancel never re-arms: the OS timer may fire once for nothing,
// and RunDue then re-arms it. The queue never reads a clock: every call is
// given `now`.
//
// Callbacks may add, reset and cancel any timer, their own included. A timer
// cancelled, or re-armed for later, by an earlier callback of the same
// RunDue does not run in it; a timer added by a callback runs at a later
// RunDue at the earliest.
//
// Thread safety: none; the loop's owning thread uses it.
// Ownership: the queue owns the callbacks; pending ones are destroyed with it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

#include "base/clock.h"

namespace zl::net {

// Names one timer of one loop. Ids are never reused by a loop.
struct TimerId {
  uint64_t value = 0;
  friend bool operator==(TimerId, TimerId) = default;
};

class TimerQueue {
 public:
  using Task = std::function<void()>;
  // Arms the loop's OS timer for `deadline`, or disarms it (nullopt).
  using Arm = std::function<void(std::optional<MonoTime> deadline)>;

  explicit TimerQueue(Arm arm) : arm_(std::move(arm)) {}

  // Fires `callback` at now + first, then every `interval` (zero: once).
  // Negative durations count as zero.
  TimerId Add(MonoTime now, Duration first, Duration interval, Task callback);
  // Re-arms a timer as if it had been added at `now`. False if it is gone
  // (cancelled, or a one-shot that fired).
  bool Reset(TimerId id, MonoTime now, Duration first, Duration interval);
  // No-op if the timer is gone.
  void Cancel(TimerId id);

  // The earliest deadline; nullopt when no timer is pending.
  std::optional<MonoTime> NextDeadline() const;
  // The OS timer fired: fires every timer whose deadline is at or before
  // `now`, then arms for the next.
  void RunDue(MonoTime now);

  size_t size() const { return timers_.size(); }

 private:
  struct Timer {
    MonoTime deadline;
    Duration interval;
    // Shared so a timer may cancel or re-arm itself while its callback runs.
    std::shared_ptr<Task> callback;
  };
  // Ordered by (deadline, id): equal deadlines fire in creation order.
  using Key = std::pair<MonoTime, uint64_t>;

  // Calls arm_ if the earliest deadline is not the one armed.
  void Rearm();

  std::map<Key, uint64_t> queue_;  // key -> timer id
  std::unordered_map<uint64_t, Timer> timers_;
  uint64_t next_id_ = 1;
  Arm arm_;
  std::optional<MonoTime> armed_;  // the deadline the OS timer is armed for
};

}  // namespace zl::net
