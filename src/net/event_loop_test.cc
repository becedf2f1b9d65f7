#include "net/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace zl::net {
namespace {

using std::chrono::milliseconds;

// Real intervals, short; every Run() is bounded by a watchdog timer.
constexpr milliseconds kWatchdog{3000};

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.error().message();
    loop_ = std::move(*loop);
  }

  // Runs the loop until Stop(), failing the test if that takes too long.
  void RunBounded() {
    bool timed_out = false;
    auto watchdog = loop_->AddTimer(kWatchdog, Duration::zero(), [&] {
      timed_out = true;
      loop_->Stop();
    });
    ASSERT_TRUE(watchdog.ok());
    ASSERT_TRUE(loop_->Run().ok());
    loop_->CancelTimer(*watchdog);
    EXPECT_FALSE(timed_out)
        << "loop did not stop within " << kWatchdog.count() << " ms";
  }

  std::unique_ptr<EventLoop> loop_;
};

// CPU time (user + system) the calling thread has used.
std::chrono::microseconds ThreadCpuTime() {
  rusage usage{};
  EXPECT_EQ(::getrusage(RUSAGE_THREAD, &usage), 0);
  auto us = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) +
           std::chrono::microseconds(t.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    read_end = UniqueFd(fds[0]);
    write_end = UniqueFd(fds[1]);
  }
  void MakeReadable() { ASSERT_EQ(::write(write_end.get(), "x", 1), 1); }
  UniqueFd read_end;
  UniqueFd write_end;
};

TEST_F(EventLoopTest, StopBeforeRunMakesRunReturnAtOnce) {
  loop_->Stop();
  EXPECT_TRUE(loop_->Run().ok());
}

TEST_F(EventLoopTest, StopFromAnotherThreadEndsRun) {
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(20));
    loop_->Stop();
  });
  RunBounded();
  stopper.join();
}

TEST_F(EventLoopTest, PostFromAnotherThreadRunsOnLoopThreadInOrder) {
  constexpr int kTasks = 1000;
  std::vector<int> order;
  std::atomic<bool> wrong_thread{false};
  const auto loop_thread = std::this_thread::get_id();
  std::thread poster([&] {
    for (int i = 0; i < kTasks; ++i) {
      loop_->Post([&, i] {
        if (std::this_thread::get_id() != loop_thread) wrong_thread = true;
        order.push_back(i);
        if (i == kTasks - 1) loop_->Stop();
      });
    }
  });
  RunBounded();
  poster.join();
  EXPECT_FALSE(wrong_thread);
  ASSERT_EQ(order.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(order[i], i);
}

TEST_F(EventLoopTest, TaskPostedFromTaskRunsLater) {
  std::vector<int> order;
  loop_->Post([&] {
    loop_->Post([&] {
      order.push_back(2);
      loop_->Stop();
    });
    order.push_back(1);
  });
  RunBounded();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

// The protocol's timers run on boot time, which counts suspended time: the
// timerfd must use the same clock as the deadlines (zl::BootClock). The
// kernel reports a timerfd's clock in its fdinfo.
TEST_F(EventLoopTest, TimerFdRunsOnBootTime) {
  std::ifstream info("/proc/self/fdinfo/" +
                     std::to_string(loop_->timer_fd_for_testing()));
  ASSERT_TRUE(info) << "no fdinfo for the timerfd";
  std::string key;
  int clockid = -1;
  while (info >> key) {
    if (key == "clockid:") {
      info >> clockid;
      break;
    }
  }
  EXPECT_EQ(clockid, CLOCK_BOOTTIME);
}

TEST_F(EventLoopTest, TimersFireInDeadlineOrder) {
  std::vector<int> fired;
  // Before the timers are added: their deadlines count from AddTimer.
  const auto start = std::chrono::steady_clock::now();
  for (int ms : {30, 10, 20}) {
    ASSERT_TRUE(loop_
                    ->AddTimer(milliseconds(ms), Duration::zero(),
                               [&, ms] {
                                 fired.push_back(ms);
                                 if (fired.size() == 3) loop_->Stop();
                               })
                    .ok());
  }
  RunBounded();
  EXPECT_EQ(fired, (std::vector<int>{10, 20, 30}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
}

TEST_F(EventLoopTest, PeriodicTimerRepeatsUntilCancelledFromItsCallback) {
  int ticks = 0;
  TimerId id;
  auto added = loop_->AddTimer(milliseconds(2), milliseconds(2), [&] {
    if (++ticks < 3) return;
    loop_->CancelTimer(id);
    // Long enough for several more ticks, had the cancel not worked.
    ASSERT_TRUE(loop_
                    ->AddTimer(milliseconds(20), Duration::zero(),
                               [&] { loop_->Stop(); })
                    .ok());
  });
  ASSERT_TRUE(added.ok());
  id = *added;
  RunBounded();
  EXPECT_EQ(ticks, 3);
  EXPECT_FALSE(loop_->ResetTimer(id, milliseconds(1), Duration::zero()));
}

TEST_F(EventLoopTest, CancelledTimerNeverFires) {
  bool fired = false;
  auto id =
      loop_->AddTimer(milliseconds(5), Duration::zero(), [&] { fired = true; });
  ASSERT_TRUE(id.ok());
  loop_->CancelTimer(*id);
  ASSERT_TRUE(
      loop_
          ->AddTimer(milliseconds(20), Duration::zero(), [&] { loop_->Stop(); })
          .ok());
  RunBounded();
  EXPECT_FALSE(fired);
}

TEST_F(EventLoopTest, ResetTimerPostponesIt) {
  std::vector<char> fired;
  auto a = loop_->AddTimer(milliseconds(5), Duration::zero(), [&] {
    fired.push_back('a');
    loop_->Stop();
  });
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(loop_
                  ->AddTimer(milliseconds(15), Duration::zero(),
                             [&] { fired.push_back('b'); })
                  .ok());
  EXPECT_TRUE(loop_->ResetTimer(*a, milliseconds(30), Duration::zero()));
  RunBounded();
  EXPECT_EQ(fired, (std::vector<char>{'b', 'a'}));
}

TEST_F(EventLoopTest, ReadableFdInvokesCallback) {
  Pipe pipe;
  uint32_t seen = 0;
  ASSERT_TRUE(loop_
                  ->Watch(pipe.read_end.get(), kReadable,
                          [&](uint32_t events) {
                            seen = events;
                            loop_->Stop();
                          })
                  .ok());
  pipe.MakeReadable();
  RunBounded();
  EXPECT_TRUE(seen & kReadable);
}

TEST_F(EventLoopTest, WatchingAnFdTwiceFailsWithEexist) {
  Pipe pipe;
  ASSERT_TRUE(
      loop_->Watch(pipe.read_end.get(), kReadable, [](uint32_t) {}).ok());
  auto again = loop_->Watch(pipe.read_end.get(), kReadable, [](uint32_t) {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EEXIST);
}

TEST_F(EventLoopTest, UnwatchDuringDispatchSuppressesPendingEvents) {
  // Both pipes are readable in the same round; whichever callback runs first
  // unwatches both, so exactly one callback runs.
  Pipe a, b;
  int calls = 0;
  auto unwatch_both = [&](uint32_t) {
    ++calls;
    loop_->Unwatch(a.read_end.get());
    loop_->Unwatch(b.read_end.get());
    loop_->Post([&] { loop_->Stop(); });
  };
  ASSERT_TRUE(loop_->Watch(a.read_end.get(), kReadable, unwatch_both).ok());
  ASSERT_TRUE(loop_->Watch(b.read_end.get(), kReadable, unwatch_both).ok());
  a.MakeReadable();
  b.MakeReadable();
  RunBounded();
  EXPECT_EQ(calls, 1);
}

TEST_F(EventLoopTest, CallbackMayRewatchItsOwnFd) {
  Pipe pipe;
  int calls = 0;
  std::function<void(uint32_t)> callback = [&](uint32_t) {
    ++calls;
    loop_->Unwatch(pipe.read_end.get());
    if (calls == 3) {
      loop_->Stop();
      return;
    }
    // Still readable (never drained): fires again after re-watching.
    ASSERT_TRUE(loop_->Watch(pipe.read_end.get(), kReadable, callback).ok());
  };
  ASSERT_TRUE(loop_->Watch(pipe.read_end.get(), kReadable, callback).ok());
  pipe.MakeReadable();
  RunBounded();
  EXPECT_EQ(calls, 3);
}

TEST_F(EventLoopTest, ModifyChangesInterest) {
  Pipe pipe;
  uint32_t seen = 0;
  // The write end of an empty pipe is writable but never readable.
  ASSERT_TRUE(loop_
                  ->Watch(pipe.write_end.get(), kReadable,
                          [&](uint32_t events) {
                            seen = events;
                            loop_->Stop();
                          })
                  .ok());
  ASSERT_TRUE(loop_->Modify(pipe.write_end.get(), kWritable).ok());
  RunBounded();
  EXPECT_TRUE(seen & kWritable);
  auto missing = loop_->Modify(pipe.read_end.get(), kReadable);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ENOENT);
}

TEST_F(EventLoopTest, SignalIsDeliveredThroughTheLoop) {
  int received = 0;
  ASSERT_TRUE(loop_
                  ->WatchSignals({SIGUSR1},
                                 [&](int signo) {
                                   received = signo;
                                   loop_->Stop();
                                 })
                  .ok());
  // Blocked now, so this stays pending for the signalfd.
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR1), 0);
  RunBounded();
  EXPECT_EQ(received, SIGUSR1);
}

// ---- busy-polling ----

// A window far longer than anything the tests wait for: a spin never ends on
// its own while a test looks, however loaded the machine.
constexpr Duration kLongWindow = std::chrono::seconds(10);

// Spins start only in a burst after a quiet spell (net/busy_poll_policy.h):
// makes `pipe` readable from a timer, after the loop slept for a while.
void MakeReadableAfterAQuietSpell(EventLoop& loop, Pipe& pipe) {
  ASSERT_TRUE(loop.AddTimer(milliseconds(5), Duration::zero(),
                            [&pipe] { pipe.MakeReadable(); })
                  .ok());
}

// Reads the byte MakeReadable wrote.
void Drain(Pipe& pipe) {
  char c;
  EXPECT_EQ(::read(pipe.read_end.get(), &c, 1), 1);
}

TEST_F(EventLoopTest, BusyPollIsOffByDefault) {
  Pipe pipe;
  ASSERT_TRUE(loop_
                  ->Watch(pipe.read_end.get(), kReadable,
                          [&](uint32_t) { loop_->Stop(); })
                  .ok());
  MakeReadableAfterAQuietSpell(*loop_, pipe);
  RunBounded();
  EXPECT_EQ(loop_->busy_poll_stats_for_testing().spins, 0u);
}

// The fd becomes readable (another thread writes it) while the loop spins
// after a round with an fd event: it is dispatched from a poll, without a
// blocking wait besides the ones for the timer and the first fd.
TEST_F(EventLoopTest,
       BusyPollDispatchesAnFdReadableDuringTheWindowWithoutBlocking) {
  loop_->SetBusyPoll(kLongWindow);
  Pipe first;
  UniqueFd later(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  ASSERT_TRUE(later);
  std::thread writer;
  ASSERT_TRUE(loop_
                  ->Watch(first.read_end.get(), kReadable,
                          [&](uint32_t) {
                            loop_->Unwatch(first.read_end.get());
                            writer = std::thread([&] {
                              std::this_thread::sleep_for(milliseconds(5));
                              const uint64_t one = 1;
                              EXPECT_EQ(::write(later.get(), &one, sizeof(one)),
                                        8);
                            });
                          })
                  .ok());
  bool dispatched = false;
  EventLoop::BusyPollStats at_dispatch;
  ASSERT_TRUE(loop_
                  ->Watch(later.get(), kReadable,
                          [&](uint32_t) {
                            dispatched = true;
                            at_dispatch = loop_->busy_poll_stats_for_testing();
                            loop_->Stop();
                          })
                  .ok());
  MakeReadableAfterAQuietSpell(*loop_, first);
  RunBounded();
  if (writer.joinable()) writer.join();
  ASSERT_TRUE(dispatched);
  EXPECT_EQ(at_dispatch.blocking_waits, 2u);
  EXPECT_EQ(at_dispatch.spins, 1u);
  EXPECT_EQ(at_dispatch.paid_spins, 1u);
}

// A timer due during a spin fires at its time, not when the window ends.
TEST_F(EventLoopTest, BusyPollLetsATimerFireOnTime) {
  loop_->SetBusyPoll(kLongWindow);
  Pipe pipe;
  ASSERT_TRUE(loop_
                  ->Watch(pipe.read_end.get(), kReadable,
                          [&](uint32_t) { Drain(pipe); })
                  .ok());
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point fired;
  ASSERT_TRUE(loop_
                  ->AddTimer(milliseconds(25), Duration::zero(),
                             [&] {
                               fired = std::chrono::steady_clock::now();
                               loop_->Stop();
                             })
                  .ok());
  MakeReadableAfterAQuietSpell(*loop_, pipe);
  RunBounded();  // fails if the timer waited for the 10 s window
  EXPECT_GE(fired - start, milliseconds(25));
  EXPECT_EQ(loop_->busy_poll_stats_for_testing().spins, 1u);
}

// No fd events: timers and posted tasks alone never start a spin, so the
// loop's thread uses next to no CPU while idle.
TEST_F(EventLoopTest, BusyPollNeverSpinsInALoopWithoutFdEvents) {
  loop_->SetBusyPoll(kLongWindow);
  Pipe quiet;
  ASSERT_TRUE(
      loop_->Watch(quiet.read_end.get(), kReadable, [](uint32_t) {}).ok());
  int ticks = 0;
  ASSERT_TRUE(loop_
                  ->AddTimer(milliseconds(10), milliseconds(10),
                             [&] {
                               if (++ticks == 10) loop_->Stop();
                             })
                  .ok());
  loop_->Post([] {});
  const auto cpu_before = ThreadCpuTime();
  RunBounded();
  const auto cpu = ThreadCpuTime() - cpu_before;
  EXPECT_EQ(ticks, 10);
  EXPECT_EQ(loop_->busy_poll_stats_for_testing().spins, 0u);
  // About 100 ms of wall time; a spinning loop would use most of it.
  EXPECT_LT(cpu, milliseconds(30)) << cpu.count() << " us of CPU";
}

// A spin is bounded by its window: after one fd event, the loop spins once,
// then sleeps.
TEST_F(EventLoopTest, BusyPollSpinEndsAfterTheWindow) {
  loop_->SetBusyPoll(milliseconds(5));
  Pipe pipe;
  ASSERT_TRUE(loop_
                  ->Watch(pipe.read_end.get(), kReadable,
                          [&](uint32_t) { Drain(pipe); })
                  .ok());
  ASSERT_TRUE(loop_
                  ->AddTimer(milliseconds(200), Duration::zero(),
                             [&] { loop_->Stop(); })
                  .ok());
  MakeReadableAfterAQuietSpell(*loop_, pipe);
  const auto cpu_before = ThreadCpuTime();
  RunBounded();
  const auto cpu = ThreadCpuTime() - cpu_before;
  const auto stats = loop_->busy_poll_stats_for_testing();
  EXPECT_EQ(stats.spins, 1u);
  // The waits for the first timer, the pipe, and the one after the spin;
  // the last timer is found by it, unless a stalled machine let the spin's
  // poll find it.
  EXPECT_LE(stats.blocking_waits, 3u);
  // 5 ms of spinning in about 200 ms of wall time.
  EXPECT_LT(cpu, milliseconds(100)) << cpu.count() << " us of CPU";
}

TEST_F(EventLoopTest, StopFromAnotherThreadEndsASpin) {
  loop_->SetBusyPoll(kLongWindow);
  Pipe pipe;
  std::thread stopper;
  ASSERT_TRUE(loop_
                  ->Watch(pipe.read_end.get(), kReadable,
                          [&](uint32_t) {
                            loop_->Unwatch(pipe.read_end.get());
                            stopper = std::thread([&] {
                              std::this_thread::sleep_for(milliseconds(10));
                              loop_->Stop();
                            });
                          })
                  .ok());
  MakeReadableAfterAQuietSpell(*loop_, pipe);
  RunBounded();  // fails if Run waited for the 10 s window
  if (stopper.joinable()) stopper.join();
  EXPECT_EQ(loop_->busy_poll_stats_for_testing().spins, 1u);
}

// Fruitless spins back off (net/busy_poll_policy.h): fd events 20 ms apart,
// each after a quiet spell, a 200 us window that never reaches the next one.
TEST_F(EventLoopTest, BusyPollBacksOffWhenSpinsFindNothing) {
  loop_->SetBusyPoll(std::chrono::microseconds(200));
  Pipe pipe;
  constexpr int kEvents = 30;
  int events = 0;
  ASSERT_TRUE(loop_
                  ->Watch(pipe.read_end.get(), kReadable,
                          [&](uint32_t) {
                            Drain(pipe);
                            if (++events == kEvents) loop_->Stop();
                          })
                  .ok());
  ASSERT_TRUE(loop_
                  ->AddTimer(milliseconds(20), milliseconds(20),
                             [&] { pipe.MakeReadable(); })
                  .ok());
  // Events are 20 ms apart: 30 of them take 0.6 s, under the watchdog.
  RunBounded();
  EXPECT_EQ(events, kEvents);
  const auto stats = loop_->busy_poll_stats_for_testing();
  EXPECT_GE(stats.spins, 1u);
  // Without the back-off every event would be followed by a spin; with it
  // about kFruitlessBeforeBackoff are, plus any a stalled machine made pay.
  EXPECT_LT(stats.spins, static_cast<uint64_t>(kEvents / 2));
}

// An fd that stays readable (a stream that never lets the loop sleep): spins
// start only in the burst after the quiet spell, then no more.
TEST_F(EventLoopTest, BusyPollStopsSpinningUnderSustainedLoad) {
  loop_->SetBusyPoll(std::chrono::microseconds(50));
  Pipe pipe;  // never drained: readable in every round
  constexpr int kRounds = 20000;
  int rounds = 0;
  ASSERT_TRUE(loop_
                  ->Watch(pipe.read_end.get(), kReadable,
                          [&](uint32_t) {
                            if (++rounds == kRounds) loop_->Stop();
                          })
                  .ok());
  MakeReadableAfterAQuietSpell(*loop_, pipe);
  RunBounded();
  EXPECT_EQ(rounds, kRounds);
  // Rounds take a microsecond or two each: a few hundred fit in the burst.
  EXPECT_LT(loop_->busy_poll_stats_for_testing().spins,
            static_cast<uint64_t>(kRounds / 2));
}

}  // namespace
}  // namespace zl::net
