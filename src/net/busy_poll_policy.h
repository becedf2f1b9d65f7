#pragma once
// BusyPollPolicy: when EventLoop (Linux) polls for a short window before it
// blocks (EventLoop::SetBusyPoll, net/event_loop.h). The loop does the
// polling; this class only decides whether a wait spins first, from what
// the previous rounds saw. Kept apart so the policy is tested without clocks.
//
//   - Off (window zero, the default): never spins.
//   - Only after a dispatch round in which a watched fd had an event: a loop
//     woken by timers, posted tasks or signals alone never spins, so an idle
//     loop costs nothing. A lone packet is never delayed either: the spin
//     comes after a round, never before one.
//   - A spin pays when a poll finds events after an empty one: that is a
//     sleep and a wake-up saved. One whose first poll finds events saved
//     nothing (the blocking wait would have returned at once too) but cost
//     nothing either; it does not count. One that finds nothing until the
//     window ends was fruitless: a window of CPU spent for nothing.
//   - Back-off: after kFruitlessBeforeBackoff fruitless spins with none that
//     paid in between, the next kBackoffRounds rounds that would spin block
//     at once instead. Then one trial spin: it pays, back to spinning after
//     every round; it is fruitless, another back-off. A spin that never pays
//     thus takes about 1 round in kBackoffRounds. A ping-pong whose every
//     other spin pays keeps spinning; an end whose replies are always ready
//     at once (or never come within the window) stops.
//   - Under sustained load the first poll of a spin finds events at once:
//     spinning costs one non-blocking epoll_wait, as the blocking one would,
//     and the fruitless spins at the ends of bursts make it back off.
//
// Thread safety: none; the loop's owning thread only.

#include <algorithm>
#include <cstdint>

#include "base/clock.h"

namespace zl::net {

class BusyPollPolicy {
 public:
  static constexpr int kFruitlessBeforeBackoff = 8;
  static constexpr int kBackoffRounds = 64;

  // Zero or negative: off. Resets the back-off.
  void SetWindow(Duration window) {
    window_ = std::max(window, Duration::zero());
    fruitless_ = 0;
    skip_ = 0;
  }
  Duration window() const { return window_; }

  // After a dispatch round: whether the next wait spins first.
  // `had_fd_event`: a watched fd had an event in that round.
  bool ShouldSpin(bool had_fd_event) {
    if (window_ == Duration::zero() || !had_fd_event) return false;
    if (skip_ > 0) {
      --skip_;
      return false;
    }
    return true;
  }

  enum class SpinResult {
    kFoundAtOnce,        // the first poll found events
    kFoundAfterWaiting,  // a later poll did: the spin paid
    kFoundNothing,       // the window ended
  };

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
  int fruitless_ = 0;  // spins in a row that found nothing
  int skip_ = 0;       // rounds left in the back-off
};

}  // namespace zl::net
