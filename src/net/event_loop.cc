// EventLoop on Linux: epoll over the watched fds, one timerfd on
// CLOCK_BOOTTIME armed for the earliest timer, an eventfd for Post/Stop and a
// signalfd (event_loop.h), and busy-polling before a blocking wait where
// net/busy_poll_policy.h says so.
#include "net/event_loop.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "net/busy_poll_policy.h"
#include "net/posted_tasks.h"

namespace zl::net {
namespace {

static_assert(kReadable == EPOLLIN && kWritable == EPOLLOUT &&
              kError == EPOLLERR && kHangup == EPOLLHUP &&
              kEdgeTriggered == EPOLLET);

// How many ready descriptors one epoll_wait may return.
constexpr int kMaxEvents = 64;

constexpr uint64_t kWakeToken = 1;
constexpr uint64_t kTimerToken = 2;
constexpr uint64_t kSignalToken = 3;
constexpr uint64_t kFirstUserToken = 16;

// A hint to the CPU that this is a spin-wait (lets a sibling hyperthread
// run, saves power).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

// Busy-poll spins are timed on the monotonic clock (never compared with
// MonoTime deadlines).
using SteadyTime = std::chrono::steady_clock::time_point;

timespec ToTimespec(std::chrono::nanoseconds d) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  return timespec{static_cast<time_t>(secs.count()),
                  static_cast<long>((d - secs).count())};
}

}  // namespace

struct EventLoop::Impl {
  struct Watcher {
    int fd;
    FdCallback callback;
  };

  Impl(UniqueFd epoll, UniqueFd timer, UniqueFd wake)
      : epoll_fd(std::move(epoll)),
        timer_fd(std::move(timer)),
        wake_fd(std::move(wake)) {}

  Result<void> AddToEpoll(int fd, uint32_t events, uint64_t token);
  void Dispatch(uint64_t token, uint32_t events);
  void Wake();
  void OnWake();
  void OnTimerFd();
  void OnSignalFd();
  void ArmTimerFd(std::optional<MonoTime> deadline);
  // One wait of Run(): spins first from `spin_from` if set, then blocks if
  // the spin found nothing; epoll_wait's result. Tells busy_poll how the
  // spin and the blocking wait went.
  int Wait(epoll_event* events, std::optional<SteadyTime> spin_from);
  // Polls epoll without blocking until it reports events or `end`:
  // epoll_wait's result (0: nothing by then). `waited`: whether a poll came
  // back empty first.
  int Spin(epoll_event* events, SteadyTime end, bool& waited);

  UniqueFd epoll_fd;
  UniqueFd timer_fd;
  UniqueFd wake_fd;
  UniqueFd signal_fd;

  // Watchers by token (epoll_event.data.u64). Tokens are never reused, so an
  // event for an fd unwatched (and possibly re-watched) earlier in the same
  // round finds no entry, or a new token, and is dropped.
  std::unordered_map<uint64_t, std::shared_ptr<Watcher>> watchers;
  std::unordered_map<int, uint64_t> token_by_fd;
  uint64_t next_token = kFirstUserToken;

  TimerQueue timers{
      [this](std::optional<MonoTime> deadline) { ArmTimerFd(deadline); }};

  std::unordered_map<int, std::shared_ptr<SignalCallback>> signal_callbacks;

  PostedTasks posted;
  std::atomic<bool> stop{false};

  BusyPollPolicy busy_poll;
  BusyPollStats stats;
};

Result<std::unique_ptr<EventLoop>> EventLoop::Create() {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return ErrnoError("epoll_create1");
  // Deadlines are BootClock (CLOCK_BOOTTIME) readings, so they are armed as
  // absolute times of a boot-time timerfd.
  UniqueFd timer(::timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer) return ErrnoError("timerfd_create");
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) return ErrnoError("eventfd");
  auto impl = std::make_unique<Impl>(std::move(epoll), std::move(timer),
                                     std::move(wake));
  ZL_RETURN_IF_ERROR(
      impl->AddToEpoll(impl->timer_fd.get(), EPOLLIN, kTimerToken));
  ZL_RETURN_IF_ERROR(
      impl->AddToEpoll(impl->wake_fd.get(), EPOLLIN, kWakeToken));
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(impl)));
}

EventLoop::EventLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventLoop::~EventLoop() = default;

int EventLoop::timer_fd_for_testing() const { return impl_->timer_fd.get(); }

EventLoop::BusyPollStats EventLoop::busy_poll_stats_for_testing() const {
  return impl_->stats;
}

void EventLoop::SetBusyPoll(Duration window) {
  impl_->busy_poll.SetWindow(window);
}

Result<void> EventLoop::Impl::AddToEpoll(int fd, uint32_t events,
                                         uint64_t token) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return ErrnoError("epoll_ctl(ADD)");
  }
  return Ok();
}

Result<void> EventLoop::Watch(Waitable fd, uint32_t events,
                              FdCallback callback) {
  if (impl_->token_by_fd.contains(fd)) {
    return MakeError(EEXIST, "EventLoop::Watch: fd " + std::to_string(fd) +
                                 " is already watched");
  }
  const uint64_t token = impl_->next_token++;
  ZL_RETURN_IF_ERROR(impl_->AddToEpoll(fd, events, token));
  impl_->watchers.emplace(token, std::make_shared<Impl::Watcher>(
                                     Impl::Watcher{fd, std::move(callback)}));
  impl_->token_by_fd.emplace(fd, token);
  return Ok();
}

Result<void> EventLoop::Modify(Waitable fd, uint32_t events) {
  auto it = impl_->token_by_fd.find(fd);
  if (it == impl_->token_by_fd.end()) {
    return MakeError(ENOENT, "EventLoop::Modify: fd " + std::to_string(fd) +
                                 " is not watched");
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second;
  if (::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    return ErrnoError("epoll_ctl(MOD)");
  }
  return Ok();
}

void EventLoop::Unwatch(Waitable fd) {
  auto it = impl_->token_by_fd.find(fd);
  if (it == impl_->token_by_fd.end()) return;
  // Fails with EBADF if the caller already closed fd; the kernel then removed
  // it from the epoll set by itself.
  ::epoll_ctl(impl_->epoll_fd.get(), EPOLL_CTL_DEL, fd, nullptr);
  impl_->watchers.erase(it->second);
  impl_->token_by_fd.erase(it);
}

Result<TimerId> EventLoop::AddTimer(Duration first, Duration interval,
                                    Task callback) {
  return impl_->timers.Add(BootClock::now(), first, interval,
                           std::move(callback));
}

bool EventLoop::ResetTimer(TimerId id, Duration first, Duration interval) {
  return impl_->timers.Reset(id, BootClock::now(), first, interval);
}

// The timerfd may stay armed for the removed deadline: one spurious wake-up,
// after which RunDue re-arms it. Cheaper than a syscall per cancel.
void EventLoop::CancelTimer(TimerId id) { impl_->timers.Cancel(id); }

void EventLoop::Impl::ArmTimerFd(std::optional<MonoTime> deadline) {
  itimerspec spec{};  // all zero: disarm
  if (deadline) {
    spec.it_value = ToTimespec(deadline->time_since_epoch());
    // An all-zero it_value would disarm instead of firing at once.
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
      spec.it_value.tv_nsec = 1;
  }
  // Cannot fail with a valid timerfd and a normalised timespec.
  ::timerfd_settime(timer_fd.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::Impl::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd.get(), &one, sizeof(one));
}

void EventLoop::Post(Task task) {
  if (impl_->posted.Push(std::move(task))) impl_->Wake();
}

void EventLoop::Stop() {
  impl_->stop.store(true);
  impl_->Wake();
}

Result<void> EventLoop::WatchSignals(std::initializer_list<int> signals,
                                     SignalCallback callback) {
  sigset_t add;
  sigemptyset(&add);
  for (int signo : signals) {
    if (sigaddset(&add, signo) != 0)
      return ErrnoError("sigaddset(" + std::to_string(signo) + ")");
  }
  sigset_t all = add;
  for (const auto& [signo, cb] : impl_->signal_callbacks)
    sigaddset(&all, signo);

  if (int err = ::pthread_sigmask(SIG_BLOCK, &add, nullptr); err != 0) {
    return ErrnoError(err, "pthread_sigmask");
  }
  const bool created = !impl_->signal_fd;
  const int fd = ::signalfd(created ? -1 : impl_->signal_fd.get(), &all,
                            SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return ErrnoError("signalfd");
  if (created) {
    UniqueFd owned(fd);
    ZL_RETURN_IF_ERROR(impl_->AddToEpoll(fd, EPOLLIN, kSignalToken));
    impl_->signal_fd = std::move(owned);
  }
  auto shared = std::make_shared<SignalCallback>(std::move(callback));
  for (int signo : signals) impl_->signal_callbacks[signo] = shared;
  return Ok();
}

Result<void> EventLoop::Run() {
  std::array<epoll_event, kMaxEvents> events;
  std::optional<SteadyTime> spin_from;
  while (!impl_->stop.exchange(false)) {
    const int n = impl_->Wait(events.data(), spin_from);
    spin_from.reset();
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("epoll_wait");
    }
    bool fd_event = false;
    for (int i = 0; i < n; ++i) {
      fd_event = fd_event || events[i].data.u64 >= kFirstUserToken;
      impl_->Dispatch(events[i].data.u64, events[i].events);
    }
    if (fd_event && impl_->busy_poll.enabled()) {
      const SteadyTime now = std::chrono::steady_clock::now();
      if (impl_->busy_poll.ShouldSpin(true, now)) spin_from = now;
    }
  }
  return Ok();
}

int EventLoop::Impl::Wait(epoll_event* events,
                          std::optional<SteadyTime> spin_from) {
  if (spin_from) {
    bool waited = false;
    const int n = Spin(events, *spin_from + busy_poll.window(), waited);
    using SpinResult = BusyPollPolicy::SpinResult;
    const SpinResult result = n == 0   ? SpinResult::kFoundNothing
                              : waited ? SpinResult::kFoundAfterWaiting
                                       : SpinResult::kFoundAtOnce;
    ++stats.spins;
    if (result == SpinResult::kFoundAfterWaiting) ++stats.paid_spins;
    busy_poll.OnSpinEnded(result);
    if (n != 0) return n;
  }
  ++stats.blocking_waits;
  if (!busy_poll.enabled()) {
    return ::epoll_wait(epoll_fd.get(), events, kMaxEvents, -1);
  }
  const SteadyTime start = std::chrono::steady_clock::now();
  const int n = ::epoll_wait(epoll_fd.get(), events, kMaxEvents, -1);
  const int saved_errno = errno;
  busy_poll.OnBlockingWaitEnded(start, std::chrono::steady_clock::now());
  errno = saved_errno;
  return n;
}

int EventLoop::Impl::Spin(epoll_event* events, SteadyTime end, bool& waited) {
  // Timers, posted tasks, signals and Stop() all make an fd of the epoll set
  // readable, so they end the spin like any event; no deadline of theirs to
  // check here.
  for (;;) {
    const int n = ::epoll_wait(epoll_fd.get(), events, kMaxEvents, 0);
    if (n > 0 || (n < 0 && errno != EINTR)) return n;
    if (std::chrono::steady_clock::now() >= end) return 0;
    waited = true;
    // Lets another runnable task (the other end of a tunnel, the kernel's
    // threads) have this core while nothing is ready.
    CpuRelax();
    ::sched_yield();
  }
}

void EventLoop::Impl::Dispatch(uint64_t token, uint32_t events) {
  switch (token) {
    case kWakeToken:
      OnWake();
      return;
    case kTimerToken:
      OnTimerFd();
      return;
    case kSignalToken:
      OnSignalFd();
      return;
    default:
      break;
  }
  auto it = watchers.find(token);
  if (it == watchers.end()) return;  // unwatched earlier in this round
  // Keeps the callback alive if it unwatches its own fd.
  std::shared_ptr<Watcher> watcher = it->second;
  watcher->callback(events);
}

void EventLoop::Impl::OnWake() {
  // Consume the wake-up before taking the queue (see PostedTasks).
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(wake_fd.get(), &count, sizeof(count));
  for (Task& task : posted.TakeAll()) task();
}

void EventLoop::Impl::OnTimerFd() {
  uint64_t expirations;
  [[maybe_unused]] ssize_t n =
      ::read(timer_fd.get(), &expirations, sizeof(expirations));
  timers.RunDue(BootClock::now());
}

void EventLoop::Impl::OnSignalFd() {
  signalfd_siginfo info;
  while (::read(signal_fd.get(), &info, sizeof(info)) ==
         static_cast<ssize_t>(sizeof(info))) {
    auto it = signal_callbacks.find(static_cast<int>(info.ssi_signo));
    if (it == signal_callbacks.end()) continue;
    std::shared_ptr<SignalCallback> callback = it->second;
    (*callback)(static_cast<int>(info.ssi_signo));
  }
}

}  // namespace zl::net
