#pragma once
// EventLoop: a reactor with one owning thread, the same interface on every
// platform.
//
// It dispatches readiness of watched Waitables (net/waitable.h), timers,
// functions posted from other threads, and signals. Callbacks run on the
// thread that calls Run(), one at a time, in no promised order across sources.
//
//   Linux (event_loop.cc): epoll over the watched fds, one timerfd on
//     CLOCK_BOOTTIME for all timers, an eventfd for Post/Stop, a signalfd.
//   Windows (event_loop_win.cc): WaitForMultipleObjects over a wake event
//     (Post/Stop and console signals), one waitable timer for all timers,
//     and the watched handles. See "Windows" below for what differs.
//
// Timers on both are kept by net/timer_queue.h (deadline order, one-shots
// removed as they fire, missed periodic ticks skipped).
//
// Thread safety: Post() and Stop() may be called from any thread, as long as
// the loop outlives the call. Every other method belongs to the owning thread:
// the thread that calls Run(), or any single thread while Run() is not
// running. Callbacks may call any method, including Watch/Unwatch/CancelTimer
// on themselves or on sources whose events are pending in the same dispatch
// round: an unwatched Waitable or a cancelled timer gets no further callback.
//
// Ownership: the loop does not own watched fds or handles; the caller must
// Unwatch one before closing it (or close it only after the loop is gone).
// The loop owns its OS objects and all registered callbacks; callbacks not
// yet run (posted tasks included) are destroyed with the loop.
//
// Windows: a watched HANDLE is dispatched with kReadable whenever it is
// signalled, again in every round while it stays signalled (level-triggered,
// as net/waitable.h describes); a wait consumes the signal of an auto-reset
// event, so one SetEvent gives one callback. Every handle signalled in a round
// is dispatched in it, so a busy handle cannot starve the others. At most
// kMaxWatchedHandles are watched at once (ENOSPC beyond). kWritable and
// kEdgeTriggered are not supported (EINVAL): a handle has only "signalled";
// Modify(handle, 0) pauses a handle until kReadable is given back.
// WatchSignals takes SIGINT (Ctrl+C, Ctrl+Break) and SIGTERM (console close,
// system shutdown) from the console control handler, delivered on the loop
// thread; other signal numbers are EINVAL.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>

#include "base/clock.h"
#include "base/result.h"
#include "net/timer_queue.h"
#include "net/waitable.h"

namespace zl::net {

// Event bits for Watch/Modify and FdCallback (epoll's values, so the device
// needs no OS header).
inline constexpr uint32_t kReadable = 0x001;          // EPOLLIN
inline constexpr uint32_t kWritable = 0x004;          // EPOLLOUT
inline constexpr uint32_t kError = 0x008;             // EPOLLERR
inline constexpr uint32_t kHangup = 0x010;            // EPOLLHUP
inline constexpr uint32_t kEdgeTriggered = 1u << 31;  // EPOLLET

#if defined(_WIN32)
// How many handles one loop may watch: WaitForMultipleObjects' limit
// (MAXIMUM_WAIT_OBJECTS, 64) minus the loop's wake event and timer.
inline constexpr size_t kMaxWatchedHandles = 62;
#endif

class EventLoop {
 public:
  // Receives the event bits that occurred (kReadable, kWritable, kError,
  // kHangup).
  using FdCallback = std::function<void(uint32_t events)>;
  using Task = std::function<void()>;
  using SignalCallback = std::function<void(int signo)>;

  static Result<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `callback` whenever `fd` has any of `events` (kReadable,
  // kWritable; kError and kHangup are always reported). Level-triggered
  // unless kEdgeTriggered is given. EEXIST when fd is already watched.
  Result<void> Watch(Waitable fd, uint32_t events, FdCallback callback);
  // Changes the interest set of a watched fd (e.g. add kWritable while a send
  // queue is blocked). ENOENT when fd is not watched.
  Result<void> Modify(Waitable fd, uint32_t events);
  // Stops watching `fd`. No callback for it runs after this returns, even one
  // already pending in the current dispatch round. No-op if not watched; safe
  // to call after the fd was closed.
  void Unwatch(Waitable fd);

  // Runs `callback` after `first`, then every `interval` (zero: once). The
  // timer is removed after a one-shot fires. Deadlines are on boot time
  // (zl::BootClock, CLOCK_BOOTTIME): time spent suspended counts, so a timer
  // due during a suspend fires at the resume (on Windows within a second of
  // it: a relative waitable timer stops while the machine sleeps, so the loop
  // re-reads the clock at least every second). A periodic timer that falls
  // behind skips the missed ticks.
  Result<TimerId> AddTimer(Duration first, Duration interval, Task callback);
  // Re-arms an existing timer as if it had been added now. False if the timer
  // is gone (cancelled, or a one-shot that fired).
  bool ResetTimer(TimerId id, Duration first, Duration interval);
  // No-op if the timer is gone.
  void CancelTimer(TimerId id);

  // Queues `task` to run on the loop thread. Thread-safe; never blocks on the
  // loop. Tasks run in the order posted.
  void Post(Task task);

  // Blocks `signals` in the calling thread (pthread_sigmask) and delivers them
  // through a signalfd to `callback`. Call before starting other threads: they
  // inherit the mask, else the kernel may deliver a process-directed signal to
  // one of them instead. The signals stay blocked after the loop is gone.
  // A later call for the same signal replaces its callback. Windows: SIGINT
  // and SIGTERM only, from the console control handler (see above); nothing
  // is blocked.
  Result<void> WatchSignals(std::initializer_list<int> signals,
                            SignalCallback callback);

  // Dispatches events until Stop(). Returns an error only if the wait
  // (epoll_wait, WaitForMultipleObjects) fails.
  Result<void> Run();
  // Busy-polling (Linux): after a dispatch round in which a watched fd had
  // an event, the next wait first polls without blocking, again and again
  // for up to `window`, yielding the CPU between polls (sched_yield), and
  // dispatches at once whatever a poll finds; only then does it block. An
  // event that comes soon after another (a reply, the kernel's answer to a
  // packet just written) is then taken without a sleep and wake-up. Timers,
  // posted tasks, signals and Stop() end a spin as any event does, so they
  // run on time. A loop without fd events never spins, and a lone event is
  // never delayed (the spin follows a round, it never precedes one). Spins
  // start only in the first millisecond after the loop slept a while (so a
  // stream, which never lets it sleep, gets none), and spins that keep
  // finding nothing back off: net/busy_poll_policy.h has the policy. Zero
  // (the default) turns it off. Windows: accepted and ignored.
  void SetBusyPoll(Duration window);

  // Makes the running Run() return once the current dispatch round (the
  // events of one wait) is done, or the next Run() return at once if
  // none is running. Thread-safe.
  void Stop();

#if !defined(_WIN32)
  // The timerfd, for tests that check its clock.
  int timer_fd_for_testing() const;

  struct BusyPollStats {
    uint64_t blocking_waits = 0;  // epoll_wait calls that could sleep
    uint64_t spins = 0;           // waits that polled first
    uint64_t paid_spins = 0;      // spins that found events after an empty poll
  };
  BusyPollStats busy_poll_stats_for_testing() const;
#endif

 private:
  struct Impl;  // per platform: event_loop.cc, event_loop_win.cc

  explicit EventLoop(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace zl::net
