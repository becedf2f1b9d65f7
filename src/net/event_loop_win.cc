// EventLoop on Windows (event_loop.h): WaitForMultipleObjects over
//
//   [0] an auto-reset wake event: Post, Stop, console signals;
//   [1] one waitable timer, armed for the earliest timer of the TimerQueue;
//   [2...] the watched handles with kReadable interest, in the order watched.
//
// One wait blocks until something is signalled and returns the lowest index;
// the rest of the array after it is then polled with zero timeouts until none
// is left, so a round collects every signalled handle, and a handle that is
// always signalled cannot starve those after it. The round is then dispatched
// in index order. A wait consumes an auto-reset event's signal (and the
// timer's: it is a synchronization timer); a manual-reset event stays
// signalled until its owner resets it, and is dispatched again every round.
#include "net/event_loop.h"

// clang-format off
#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>
// clang-format on

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/console_signals_win.h"
#include "net/posted_tasks.h"
#include "net/unique_handle_win.h"
#include "net/win32_error_win.h"

namespace zl::net {
namespace {

#ifndef CREATE_WAITABLE_TIMER_HIGH_RESOLUTION
// Windows 10 1803 and later (not in mingw-w64's headers yet).
#define CREATE_WAITABLE_TIMER_HIGH_RESOLUTION 0x00000002
#endif

constexpr uint64_t kWakeToken = 1;
constexpr uint64_t kTimerToken = 2;
constexpr uint64_t kFirstUserToken = 16;
constexpr size_t kOwnHandles = 2;  // the wake event and the timer
static_assert(kMaxWatchedHandles + kOwnHandles == MAXIMUM_WAIT_OBJECTS);

// A relative waitable timer stops while the machine sleeps (Windows 8 and
// later), but deadlines are on boot time, which does not. The timer is never
// armed further ahead than this, so a deadline that passed during a suspend
// fires at most this long after the resume.
constexpr Duration kMaxTimerSleep = std::chrono::seconds(1);

// High resolution where the system has it (Windows 10 1803 and later), else
// the system tick's (about 15.6 ms).
UniqueHandle CreateLoopTimer() {
  HANDLE timer = CreateWaitableTimerExW(nullptr, nullptr,
                                        CREATE_WAITABLE_TIMER_HIGH_RESOLUTION,
                                        TIMER_ALL_ACCESS);
  if (timer == nullptr) {
    timer = CreateWaitableTimerExW(nullptr, nullptr, 0, TIMER_ALL_ACCESS);
  }
  return UniqueHandle(timer);
}

std::string Describe(HANDLE handle) {
  char text[32];
  std::snprintf(
      text, sizeof(text), "handle %#llx",
      static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(handle)));
  return text;
}

Result<void> CheckEvents(const char* what, uint32_t events) {
  if ((events & (kWritable | kEdgeTriggered)) != 0) {
    return MakeError(EINVAL,
                     std::string(what) +
                         ": kWritable and kEdgeTriggered are not supported on "
                         "Windows (a handle is only signalled or not)");
  }
  return Ok();
}

}  // namespace

struct EventLoop::Impl {
  struct Watcher {
    HANDLE handle;
    uint32_t events;
    FdCallback callback;
  };

  Impl(UniqueHandle wake_event, UniqueHandle timer_handle)
      : wake(std::move(wake_event)), timer(std::move(timer_handle)) {}
  // The console handler must not deliver to a loop being destroyed: end the
  // subscription before anything it posts to.
  ~Impl() { signals.reset(); }

  void Post(Task task) {
    if (posted.Push(std::move(task))) SetEvent(wake.get());
  }
  Result<void> WaitRound(std::vector<uint64_t>& ready);
  void Dispatch(uint64_t token);
  void OnWake();
  void OnTimer();
  void OnSignal(int signo);
  void ArmTimer(std::optional<MonoTime> deadline);

  UniqueHandle wake;
  UniqueHandle timer;

  // By token, so in the order watched. Tokens are never reused: a handle
  // unwatched (and perhaps re-watched) earlier in a round finds no entry, or
  // a new token, and is not dispatched.
  std::map<uint64_t, std::shared_ptr<Watcher>> watchers;
  std::unordered_map<HANDLE, uint64_t> token_by_handle;
  uint64_t next_token = kFirstUserToken;

  TimerQueue timers{
      [this](std::optional<MonoTime> deadline) { ArmTimer(deadline); }};

  std::unordered_map<int, std::shared_ptr<SignalCallback>> signal_callbacks;
  std::unique_ptr<ConsoleSignalSubscription> signals;

  PostedTasks posted;
  std::atomic<bool> stop{false};

  // One round's wait array and the token of each entry (reused).
  std::vector<HANDLE> wait_handles;
  std::vector<uint64_t> wait_tokens;
};

Result<std::unique_ptr<EventLoop>> EventLoop::Create() {
  UniqueHandle wake(CreateEventW(nullptr, FALSE, FALSE, nullptr));
  if (!wake.valid()) return LastWin32Error("CreateEventW(wake)");
  UniqueHandle timer = CreateLoopTimer();
  if (!timer.valid()) return LastWin32Error("CreateWaitableTimerExW");
  return std::unique_ptr<EventLoop>(
      new EventLoop(std::make_unique<Impl>(std::move(wake), std::move(timer))));
}

EventLoop::EventLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventLoop::~EventLoop() = default;

Result<void> EventLoop::Watch(Waitable handle, uint32_t events,
                              FdCallback callback) {
  if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
    return MakeError(EBADF, "EventLoop::Watch: not a handle");
  }
  ZL_RETURN_IF_ERROR(CheckEvents("EventLoop::Watch", events));
  if (impl_->token_by_handle.contains(handle)) {
    return MakeError(EEXIST, "EventLoop::Watch: " + Describe(handle) +
                                 " is already watched");
  }
  if (impl_->watchers.size() >= kMaxWatchedHandles) {
    return MakeError(ENOSPC,
                     "EventLoop::Watch: a loop waits on at most " +
                         std::to_string(kMaxWatchedHandles) +
                         " handles (WaitForMultipleObjects' limit less the "
                         "loop's own)");
  }
  const uint64_t token = impl_->next_token++;
  impl_->watchers.emplace(token, std::make_shared<Impl::Watcher>(Impl::Watcher{
                                     handle, events, std::move(callback)}));
  impl_->token_by_handle.emplace(handle, token);
  return Ok();
}

Result<void> EventLoop::Modify(Waitable handle, uint32_t events) {
  auto it = impl_->token_by_handle.find(handle);
  if (it == impl_->token_by_handle.end()) {
    return MakeError(
        ENOENT, "EventLoop::Modify: " + Describe(handle) + " is not watched");
  }
  ZL_RETURN_IF_ERROR(CheckEvents("EventLoop::Modify", events));
  impl_->watchers.at(it->second)->events = events;
  return Ok();
}

void EventLoop::Unwatch(Waitable handle) {
  auto it = impl_->token_by_handle.find(handle);
  if (it == impl_->token_by_handle.end()) return;
  impl_->watchers.erase(it->second);
  impl_->token_by_handle.erase(it);
}

Result<TimerId> EventLoop::AddTimer(Duration first, Duration interval,
                                    Task callback) {
  return impl_->timers.Add(BootClock::now(), first, interval,
                           std::move(callback));
}

bool EventLoop::ResetTimer(TimerId id, Duration first, Duration interval) {
  return impl_->timers.Reset(id, BootClock::now(), first, interval);
}

// The timer may stay armed for the removed deadline: one spurious wake-up,
// after which RunDue re-arms it.
void EventLoop::CancelTimer(TimerId id) { impl_->timers.Cancel(id); }

void EventLoop::Impl::ArmTimer(std::optional<MonoTime> deadline) {
  if (!deadline) {
    CancelWaitableTimer(timer.get());
    return;
  }
  const Duration wait = std::clamp<Duration>(*deadline - BootClock::now(),
                                             Duration::zero(), kMaxTimerSleep);
  // Negative: relative, in 100 ns units, rounded up so it never fires early.
  LARGE_INTEGER due;
  due.QuadPart = -std::max<LONGLONG>(1, (wait.count() + 99) / 100);
  // Cannot fail with a valid timer handle and no completion routine.
  SetWaitableTimer(timer.get(), &due, 0, nullptr, nullptr, FALSE);
}

void EventLoop::Post(Task task) { impl_->Post(std::move(task)); }

// No busy-polling on Windows (event_loop.h): WaitForMultipleObjects blocks.
void EventLoop::SetBusyPoll(Duration) {}

void EventLoop::Stop() {
  impl_->stop.store(true);
  SetEvent(impl_->wake.get());
}

Result<void> EventLoop::WatchSignals(std::initializer_list<int> signals,
                                     SignalCallback callback) {
  for (int signo : signals) {
    if (signo != SIGINT && signo != SIGTERM) {
      return MakeError(EINVAL, "EventLoop::WatchSignals: signal " +
                                   std::to_string(signo) +
                                   " has no console control event on Windows "
                                   "(SIGINT and SIGTERM have)");
    }
  }
  if (!impl_->signals) {
    Impl* impl = impl_.get();
    auto subscription = ConsoleSignalSubscription::Create([impl](int signo) {
      impl->Post([impl, signo] { impl->OnSignal(signo); });
    });
    if (!subscription.ok()) return subscription.error();
    impl_->signals = std::move(*subscription);
  }
  auto shared = std::make_shared<SignalCallback>(std::move(callback));
  for (int signo : signals) {
    impl_->signal_callbacks[signo] = shared;
    impl_->signals->Want(signo);
  }
  return Ok();
}

Result<void> EventLoop::Run() {
  std::vector<uint64_t> ready;
  while (!impl_->stop.exchange(false)) {
    ZL_RETURN_IF_ERROR(impl_->WaitRound(ready));
    for (uint64_t token : ready) impl_->Dispatch(token);
  }
  return Ok();
}

Result<void> EventLoop::Impl::WaitRound(std::vector<uint64_t>& ready) {
  wait_handles.assign({wake.get(), timer.get()});
  wait_tokens.assign({kWakeToken, kTimerToken});
  for (const auto& [token, watcher] : watchers) {
    if ((watcher->events & kReadable) == 0) continue;
    wait_handles.push_back(watcher->handle);
    wait_tokens.push_back(token);
  }
  ready.clear();
  const DWORD count = static_cast<DWORD>(wait_handles.size());
  DWORD first = 0;
  DWORD timeout = INFINITE;
  while (first < count) {
    const DWORD n = count - first;
    const DWORD r =
        WaitForMultipleObjects(n, wait_handles.data() + first, FALSE, timeout);
    DWORD index;
    if (r < WAIT_OBJECT_0 + n) {
      index = r - WAIT_OBJECT_0;
    } else if (r >= WAIT_ABANDONED_0 && r < WAIT_ABANDONED_0 + n) {
      index = r - WAIT_ABANDONED_0;  // a mutex whose owner died: signalled
    } else if (r == WAIT_TIMEOUT) {
      break;
    } else {
      return LastWin32Error("WaitForMultipleObjects");
    }
    ready.push_back(wait_tokens[first + index]);
    first += index + 1;
    timeout = 0;  // the rest of the round: only what is signalled now
  }
  return Ok();
}

void EventLoop::Impl::Dispatch(uint64_t token) {
  switch (token) {
    case kWakeToken:
      OnWake();
      return;
    case kTimerToken:
      OnTimer();
      return;
    default:
      break;
  }
  auto it = watchers.find(token);
  if (it == watchers.end()) return;  // unwatched earlier in this round
  // Keeps the callback alive if it unwatches its own handle.
  std::shared_ptr<Watcher> watcher = it->second;
  if ((watcher->events & kReadable) == 0) return;  // modified this round
  watcher->callback(kReadable);
}

void EventLoop::Impl::OnWake() {
  // The wait consumed the wake-up before the queue is taken (PostedTasks).
  for (Task& task : posted.TakeAll()) task();
}

void EventLoop::Impl::OnTimer() { timers.RunDue(BootClock::now()); }

void EventLoop::Impl::OnSignal(int signo) {
  auto it = signal_callbacks.find(signo);
  if (it == signal_callbacks.end()) return;
  std::shared_ptr<SignalCallback> callback = it->second;
  (*callback)(signo);
}

}  // namespace zl::net
