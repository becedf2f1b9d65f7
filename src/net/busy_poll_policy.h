#pragma once
// BusyPollPolicy: when EventLoop (Linux) polls for a short window before it
// blocks (EventLoop::SetBusyPoll, net/event_loop.h). The loop does the
// polling and reads the clock; this class only decides whether a wait spins
// first, from what the previous waits and rounds saw. Kept apart so the
// policy is tested with made-up times.
//
// Busy-polling pays for sparse request/response traffic (a ping, an RPC): a
// packet after a quiet spell, then its reply a few tens of microseconds
// later. Under sustained load it does not: the loop seldom sleeps anyway,
// and a spinning loop takes the CPU the other end of the stream, the
// application and the kernel need (on 2 cores, all of them share it). So:
//
//   - Off (window zero, the default): never spins.
//   - Only after a dispatch round in which a watched fd had an event: a loop
//     woken by timers, posted tasks or signals alone never spins, so an idle
//     loop costs nothing. A lone packet is never delayed either: the spin
//     comes after a round, never before one.
//   - Only in a burst after a quiet spell: a blocking wait that slept at
//     least kQuietSpell starts a burst, and spins may start for
//     kBurstLength + window after it ends. Traffic that never lets the loop
//     sleep that long (a stream) gets no spinning at all.
//   - A spin pays when a poll finds events after an empty one: a sleep and
//     a wake-up saved. One whose first poll finds events saved nothing (the
//     blocking wait would have returned at once too) but cost nothing
//     either; it does not count. One that finds nothing until the window
//     ends was fruitless: a window of CPU spent for nothing.
//   - Back-off: after kFruitlessBeforeBackoff fruitless spins with none that
//     paid in between, the next kBackoffRounds rounds that could spin block
//     at once instead. Then one trial spin: it pays, back to spinning; it is
//     fruitless, another back-off. A spin that never pays thus takes about 1
//     round in kBackoffRounds. The end of a ping-pong whose every other spin
//     catches the reply keeps spinning; an end whose replies are always
//     ready at once (or never come within the window) stops.
//
// Thread safety: none; the loop's owning thread only.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "base/clock.h"

namespace zl::net {

class BusyPollPolicy {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  static constexpr Duration kQuietSpell = std::chrono::milliseconds(1);
  static constexpr Duration kBurstLength = std::chrono::milliseconds(1);
  static constexpr int kFruitlessBeforeBackoff = 8;
  static constexpr int kBackoffRounds = 64;

  enum class SpinResult {
    kFoundAtOnce,        // the first poll found events
    kFoundAfterWaiting,  // a later poll did: the spin paid
    kFoundNothing,       // the window ended
  };

  // Zero or negative: off. Resets the back-off and the burst.
  void SetWindow(Duration window) {
    window_ = std::max(window, Duration::zero());
    fruitless_ = 0;
    skip_ = 0;
    burst_end_.reset();
  }
  Duration window() const { return window_; }
  bool enabled() const { return window_ != Duration::zero(); }

  // A blocking wait that began at `start` returned at `end`.
  void OnBlockingWaitEnded(TimePoint start, TimePoint end) {
    if (end - start >= kQuietSpell) burst_end_ = end + kBurstLength + window_;
  }

  // After a dispatch round that ended at `now`: whether the next wait spins
  // first. `had_fd_event`: a watched fd had an event in that round.
  bool ShouldSpin(bool had_fd_event, TimePoint now) {
    if (!enabled() || !had_fd_event) return false;
    if (!burst_end_ || now > *burst_end_) return false;
    if (skip_ > 0) {
      --skip_;
      return false;
    }
    return true;
  }

  void OnSpinEnded(SpinResult result) {
    if (result == SpinResult::kFoundAfterWaiting) {
      fruitless_ = 0;
      return;
    }
    if (result == SpinResult::kFoundAtOnce) return;
    if (++fruitless_ >= kFruitlessBeforeBackoff) {
      skip_ = kBackoffRounds;
      // The trial spin after the back-off decides alone.
      fruitless_ = kFruitlessBeforeBackoff - 1;
    }
  }

 private:
  Duration window_{0};
  std::optional<TimePoint> burst_end_;  // spins may start until then
  int fruitless_ = 0;                   // fruitless spins since one paid
  int skip_ = 0;                        // rounds left in the back-off
};

}  // namespace zl::net
