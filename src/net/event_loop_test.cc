#include "net/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
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

}  // namespace
}  // namespace zl::net
