#pragma once
// EventLoop: an epoll-based reactor with one owning thread.
//
// It dispatches readiness of watched file descriptors, timers (all multiplexed
// on one timerfd, ordered by deadline then by creation), functions posted from
// other threads (eventfd) and signals (signalfd). Callbacks run on the thread
// that calls Run(), one at a time, in no promised order across sources.
//
// Thread safety: Post() and Stop() may be called from any thread, as long as
// the loop outlives the call. Every other method belongs to the owning thread:
// the thread that calls Run(), or any single thread while Run() is not
// running. Callbacks may call any method, including Watch/Unwatch/CancelTimer
// on themselves or on sources whose events are pending in the same dispatch
// round: an unwatched fd or a cancelled timer gets no further callback.
//
// Ownership: the loop does not own watched fds; the caller must Unwatch an fd
// before closing it (or close it only after the loop is gone). The loop owns
// its epoll, timer, event and signal descriptors and all registered callbacks;
// callbacks not yet run are destroyed with the loop.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "net/waitable.h"

namespace zl::net {

// Event bits for Watch/Modify and FdCallback (epoll's values, so the device
// needs no OS header).
inline constexpr uint32_t kReadable = 0x001;          // EPOLLIN
inline constexpr uint32_t kWritable = 0x004;          // EPOLLOUT
inline constexpr uint32_t kError = 0x008;             // EPOLLERR
inline constexpr uint32_t kHangup = 0x010;            // EPOLLHUP
inline constexpr uint32_t kEdgeTriggered = 1u << 31;  // EPOLLET

// Names one timer of one loop. Ids are never reused by a loop.
struct TimerId {
  uint64_t value = 0;
  friend bool operator==(TimerId, TimerId) = default;
};

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
  // due during a suspend fires at the resume. A periodic timer that falls
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
  // A later call for the same signal replaces its callback.
  Result<void> WatchSignals(std::initializer_list<int> signals,
                            SignalCallback callback);

  // Dispatches events until Stop(). Returns an error only if epoll fails.
  Result<void> Run();
  // Makes the running Run() return once the current dispatch round (the
  // events of one epoll_wait) is done, or the next Run() return at once if
  // none is running. Thread-safe.
  void Stop();

  // The timerfd, for tests that check its clock.
  int timer_fd_for_testing() const { return timer_fd_.get(); }

 private:
  struct Watcher {
    int fd;
    FdCallback callback;
  };
  struct Timer {
    MonoTime deadline;
    Duration interval;
    // Shared so a timer may cancel or re-arm itself while its callback runs.
    std::shared_ptr<Task> callback;
  };
  // Timers ordered by (deadline, id): equal deadlines fire in creation order.
  using TimerKey = std::pair<MonoTime, uint64_t>;

  EventLoop(UniqueFd epoll, UniqueFd timer, UniqueFd wake);

  Result<void> AddToEpoll(int fd, uint32_t events, uint64_t token);
  void Dispatch(uint64_t token, uint32_t events);
  void OnWake();
  void OnTimerFd();
  void OnSignalFd();
  void ArmTimerFd();
  void RemoveTimer(uint64_t id);

  UniqueFd epoll_;
  UniqueFd timer_fd_;
  UniqueFd wake_fd_;
  UniqueFd signal_fd_;

  // Watchers by token (epoll_event.data.u64). Tokens are never reused, so an
  // event for an fd unwatched (and possibly re-watched) earlier in the same
  // round finds no entry, or a new token, and is dropped.
  std::unordered_map<uint64_t, std::shared_ptr<Watcher>> watchers_;
  std::unordered_map<int, uint64_t> token_by_fd_;
  uint64_t next_token_ = kFirstUserToken;

  std::map<TimerKey, uint64_t> timer_queue_;  // key -> timer id
  std::unordered_map<uint64_t, Timer> timers_;
  uint64_t next_timer_id_ = 1;
  // The deadline the timerfd is armed for, if armed.
  std::optional<MonoTime> armed_;

  std::unordered_map<int, std::shared_ptr<SignalCallback>> signal_callbacks_;

  Mutex posted_mu_;
  std::vector<Task> posted_ GUARDED_BY(posted_mu_);
  std::atomic<bool> stop_{false};

  static constexpr uint64_t kWakeToken = 1;
  static constexpr uint64_t kTimerToken = 2;
  static constexpr uint64_t kSignalToken = 3;
  static constexpr uint64_t kFirstUserToken = 16;
};

}  // namespace zl::net
