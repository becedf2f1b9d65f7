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
//   - Back-off: after kFruitlessBeforeBackoff spins in a row that found
//     nothing, the next kBackoffRounds rounds that would spin block at once
//     instead. Then one trial spin: found something, back to spinning after
//     every round; found nothing, another back-off. A spin that never pays
//     thus takes about 1 round in kBackoffRounds.
//   - Under sustained load the first poll of a spin finds events at once, so
//     spinning costs one non-blocking epoll_wait, as the blocking one would.
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

  // After a spin: whether its polls found any event before the window ended.
  void OnSpinEnded(bool found_events) {
    if (found_events) {
      fruitless_ = 0;
      return;
    }
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
