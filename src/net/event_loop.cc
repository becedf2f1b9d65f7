#include "net/event_loop.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>

namespace zl::net {
namespace {

static_assert(kReadable == EPOLLIN && kWritable == EPOLLOUT &&
              kError == EPOLLERR && kHangup == EPOLLHUP &&
              kEdgeTriggered == EPOLLET);

// How many ready descriptors one epoll_wait may return.
constexpr int kMaxEvents = 64;

timespec ToTimespec(std::chrono::nanoseconds d) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  return timespec{static_cast<time_t>(secs.count()),
                  static_cast<long>((d - secs).count())};
}

}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::Create() {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return ErrnoError("epoll_create1");
  // Deadlines are BootClock (CLOCK_BOOTTIME) readings, so they are armed as
  // absolute times of a boot-time timerfd.
  UniqueFd timer(::timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer) return ErrnoError("timerfd_create");
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) return ErrnoError("eventfd");
  std::unique_ptr<EventLoop> loop(
      new EventLoop(std::move(epoll), std::move(timer), std::move(wake)));
  ZL_RETURN_IF_ERROR(
      loop->AddToEpoll(loop->timer_fd_.get(), EPOLLIN, kTimerToken));
  ZL_RETURN_IF_ERROR(
      loop->AddToEpoll(loop->wake_fd_.get(), EPOLLIN, kWakeToken));
  return loop;
}

EventLoop::EventLoop(UniqueFd epoll, UniqueFd timer, UniqueFd wake)
    : epoll_(std::move(epoll)),
      timer_fd_(std::move(timer)),
      wake_fd_(std::move(wake)) {}

EventLoop::~EventLoop() = default;

Result<void> EventLoop::AddToEpoll(int fd, uint32_t events, uint64_t token) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return ErrnoError("epoll_ctl(ADD)");
  }
  return Ok();
}

Result<void> EventLoop::Watch(Waitable fd, uint32_t events, FdCallback callback) {
  if (token_by_fd_.contains(fd)) {
    return MakeError(EEXIST, "EventLoop::Watch: fd " + std::to_string(fd) +
                                 " is already watched");
  }
  const uint64_t token = next_token_++;
  ZL_RETURN_IF_ERROR(AddToEpoll(fd, events, token));
  watchers_.emplace(
      token, std::make_shared<Watcher>(Watcher{fd, std::move(callback)}));
  token_by_fd_.emplace(fd, token);
  return Ok();
}

Result<void> EventLoop::Modify(Waitable fd, uint32_t events) {
  auto it = token_by_fd_.find(fd);
  if (it == token_by_fd_.end()) {
    return MakeError(ENOENT, "EventLoop::Modify: fd " + std::to_string(fd) +
                                 " is not watched");
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    return ErrnoError("epoll_ctl(MOD)");
  }
  return Ok();
}

void EventLoop::Unwatch(Waitable fd) {
  auto it = token_by_fd_.find(fd);
  if (it == token_by_fd_.end()) return;
  // Fails with EBADF if the caller already closed fd; the kernel then removed
  // it from the epoll set by itself.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watchers_.erase(it->second);
  token_by_fd_.erase(it);
}

Result<TimerId> EventLoop::AddTimer(Duration first, Duration interval,
                                    Task callback) {
  const uint64_t id = next_timer_id_++;
  const MonoTime deadline =
      BootClock::now() + std::max(first, Duration::zero());
  timers_.emplace(id, Timer{deadline, std::max(interval, Duration::zero()),
                            std::make_shared<Task>(std::move(callback))});
  timer_queue_.emplace(TimerKey{deadline, id}, id);
  ArmTimerFd();
  return TimerId{id};
}

bool EventLoop::ResetTimer(TimerId id, Duration first, Duration interval) {
  auto it = timers_.find(id.value);
  if (it == timers_.end()) return false;
  timer_queue_.erase(TimerKey{it->second.deadline, id.value});
  it->second.deadline = BootClock::now() + std::max(first, Duration::zero());
  it->second.interval = std::max(interval, Duration::zero());
  timer_queue_.emplace(TimerKey{it->second.deadline, id.value}, id.value);
  ArmTimerFd();
  return true;
}

void EventLoop::CancelTimer(TimerId id) { RemoveTimer(id.value); }

void EventLoop::RemoveTimer(uint64_t id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  timer_queue_.erase(TimerKey{it->second.deadline, id});
  timers_.erase(it);
  // The timerfd may stay armed for the removed deadline: one spurious wake-up,
  // after which OnTimerFd re-arms it. Cheaper than a syscall per cancel.
}

void EventLoop::ArmTimerFd() {
  itimerspec spec{};
  if (timer_queue_.empty()) {
    if (!armed_) return;
    armed_.reset();
  } else {
    const MonoTime next = timer_queue_.begin()->first.first;
    if (armed_ && *armed_ == next) return;
    armed_ = next;
    spec.it_value = ToTimespec(next.time_since_epoch());
    // An all-zero it_value would disarm instead of firing at once.
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
      spec.it_value.tv_nsec = 1;
  }
  // Cannot fail with a valid timerfd and a normalised timespec.
  ::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::Post(Task task) {
  bool was_empty;
  {
    MutexLock lock(posted_mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(task));
  }
  // A non-empty queue already has a wake-up pending (see OnWake).
  if (was_empty) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  }
}

void EventLoop::Stop() {
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
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
  for (const auto& [signo, cb] : signal_callbacks_) sigaddset(&all, signo);

  if (int err = ::pthread_sigmask(SIG_BLOCK, &add, nullptr); err != 0) {
    return ErrnoError(err, "pthread_sigmask");
  }
  const bool created = !signal_fd_;
  const int fd = ::signalfd(created ? -1 : signal_fd_.get(), &all,
                            SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return ErrnoError("signalfd");
  if (created) {
    UniqueFd owned(fd);
    ZL_RETURN_IF_ERROR(AddToEpoll(fd, EPOLLIN, kSignalToken));
    signal_fd_ = std::move(owned);
  }
  auto shared = std::make_shared<SignalCallback>(std::move(callback));
  for (int signo : signals) signal_callbacks_[signo] = shared;
  return Ok();
}

Result<void> EventLoop::Run() {
  std::array<epoll_event, kMaxEvents> events;
  while (!stop_.exchange(false)) {
    const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("epoll_wait");
    }
    for (int i = 0; i < n; ++i) Dispatch(events[i].data.u64, events[i].events);
  }
  return Ok();
}

void EventLoop::Dispatch(uint64_t token, uint32_t events) {
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
  auto it = watchers_.find(token);
  if (it == watchers_.end()) return;  // unwatched earlier in this round
  // Keeps the callback alive if it unwatches its own fd.
  std::shared_ptr<Watcher> watcher = it->second;
  watcher->callback(events);
}

void EventLoop::OnWake() {
  // Read the counter before taking the queue: a Post() that lands after the
  // swap sees an empty queue and writes again, so no task is stranded.
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof(count));
  std::vector<Task> tasks;
  {
    MutexLock lock(posted_mu_);
    tasks.swap(posted_);
  }
  for (Task& task : tasks) task();
}

void EventLoop::OnTimerFd() {
  uint64_t expirations;
  [[maybe_unused]] ssize_t n =
      ::read(timer_fd_.get(), &expirations, sizeof(expirations));
  armed_.reset();

  const MonoTime now = BootClock::now();
  std::vector<uint64_t> due;
  for (auto it = timer_queue_.begin();
       it != timer_queue_.end() && it->first.first <= now; ++it) {
    due.push_back(it->second);
  }
  for (uint64_t id : due) {
    auto it = timers_.find(id);
    // Cancelled, or re-armed for later, by an earlier callback of this round.
    if (it == timers_.end() || it->second.deadline > now) continue;
    std::shared_ptr<Task> callback = it->second.callback;
    Timer& timer = it->second;
    if (timer.interval == Duration::zero()) {
      RemoveTimer(id);
    } else {
      timer_queue_.erase(TimerKey{timer.deadline, id});
      // Skip ticks missed while the loop was busy rather than firing a burst.
      const auto missed = (now - timer.deadline) / timer.interval;
      timer.deadline += (missed + 1) * timer.interval;
      timer_queue_.emplace(TimerKey{timer.deadline, id}, id);
    }
    (*callback)();
  }
  ArmTimerFd();
}

void EventLoop::OnSignalFd() {
  signalfd_siginfo info;
  while (::read(signal_fd_.get(), &info, sizeof(info)) ==
         static_cast<ssize_t>(sizeof(info))) {
    auto it = signal_callbacks_.find(static_cast<int>(info.ssi_signo));
    if (it == signal_callbacks_.end()) continue;
    std::shared_ptr<SignalCallback> callback = it->second;
    (*callback)(static_cast<int>(info.ssi_signo));
  }
}

}  // namespace zl::net
