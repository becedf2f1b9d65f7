// EventLoop on Windows: the behaviours of event_loop_test.cc with events in
// place of pipes, and what only Windows has (the handle limit, console
// signals).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "net/console_signals_win.h"
#include "net/event_loop.h"
#include "net/unique_handle_win.h"

namespace zl::net {
namespace {

using std::chrono::milliseconds;

// Real intervals, short; every Run() is bounded by a watchdog timer.
constexpr milliseconds kWatchdog{3000};
// How long a test waits for something that must not happen.
constexpr milliseconds kQuiet{30};

UniqueHandle ManualResetEvent() {
  return UniqueHandle(CreateEventW(nullptr, TRUE, FALSE, nullptr));
}
UniqueHandle AutoResetEvent() {
  return UniqueHandle(CreateEventW(nullptr, FALSE, FALSE, nullptr));
}

class EventLoopWinTest : public ::testing::Test {
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
    auto run = loop_->Run();
    ASSERT_TRUE(run.ok()) << run.error().message();
    loop_->CancelTimer(*watchdog);
    EXPECT_FALSE(timed_out)
        << "loop did not stop within " << kWatchdog.count() << " ms";
  }

  // Stops the loop after kQuiet: for tests that check nothing more happens.
  void StopSoon() {
    ASSERT_TRUE(
        loop_->AddTimer(kQuiet, Duration::zero(), [this] { loop_->Stop(); })
            .ok());
  }

  std::unique_ptr<EventLoop> loop_;
};

TEST_F(EventLoopWinTest, StopBeforeRunMakesRunReturnAtOnce) {
  loop_->Stop();
  EXPECT_TRUE(loop_->Run().ok());
}

TEST_F(EventLoopWinTest, StopFromAnotherThreadEndsRunPromptly) {
  std::atomic<std::chrono::steady_clock::time_point> stopped_at{};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(20));  // let Run block
    stopped_at = std::chrono::steady_clock::now();
    loop_->Stop();
  });
  RunBounded();
  const auto lag = std::chrono::steady_clock::now() - stopped_at.load();
  stopper.join();
  EXPECT_LT(lag, milliseconds(500));
}

TEST_F(EventLoopWinTest, PostFromAnotherThreadRunsOnLoopThreadInOrder) {
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

TEST_F(EventLoopWinTest, PostWakesABlockedRun) {
  bool ran = false;
  std::thread poster([&] {
    std::this_thread::sleep_for(milliseconds(20));  // let Run block
    loop_->Post([&] {
      ran = true;
      loop_->Stop();
    });
  });
  RunBounded();
  poster.join();
  EXPECT_TRUE(ran);
}

TEST_F(EventLoopWinTest, TaskPostedFromTaskRunsLater) {
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

TEST_F(EventLoopWinTest, DestroyingTheLoopDestroysPendingTasksUnrun) {
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  bool ran = false;
  loop_->Post([&ran, token = std::move(token)] { ran = true; });
  EXPECT_FALSE(watch.expired());
  loop_.reset();
  EXPECT_TRUE(watch.expired());
  EXPECT_FALSE(ran);
}

TEST_F(EventLoopWinTest, TimersFireInDeadlineOrder) {
  std::vector<int> fired;
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
  // Boot time and steady time tick differently (GetTickCount64 under wine):
  // allow one system tick.
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30 - 16));
}

TEST_F(EventLoopWinTest, OneShotTimerFiresOnceAndIsGone) {
  int fired = 0;
  auto id = loop_->AddTimer(milliseconds(2), Duration::zero(), [&] {
    ++fired;
    StopSoon();
  });
  ASSERT_TRUE(id.ok());
  RunBounded();
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(loop_->ResetTimer(*id, milliseconds(1), Duration::zero()));
}

TEST_F(EventLoopWinTest, PeriodicTimerRepeatsUntilCancelledFromItsCallback) {
  int ticks = 0;
  TimerId id;
  auto added = loop_->AddTimer(milliseconds(2), milliseconds(2), [&] {
    if (++ticks < 3) return;
    loop_->CancelTimer(id);
    StopSoon();  // long enough for more ticks, had the cancel not worked
  });
  ASSERT_TRUE(added.ok());
  id = *added;
  RunBounded();
  EXPECT_EQ(ticks, 3);
  EXPECT_FALSE(loop_->ResetTimer(id, milliseconds(1), Duration::zero()));
}

TEST_F(EventLoopWinTest, CancelledTimerNeverFires) {
  bool fired = false;
  auto id =
      loop_->AddTimer(milliseconds(5), Duration::zero(), [&] { fired = true; });
  ASSERT_TRUE(id.ok());
  loop_->CancelTimer(*id);
  StopSoon();
  RunBounded();
  EXPECT_FALSE(fired);
}

TEST_F(EventLoopWinTest, ResetTimerPostponesIt) {
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
  EXPECT_TRUE(loop_->ResetTimer(*a, milliseconds(60), Duration::zero()));
  RunBounded();
  EXPECT_EQ(fired, (std::vector<char>{'b', 'a'}));
}

TEST_F(EventLoopWinTest, SignalledManualResetEventIsDispatchedUntilReset) {
  UniqueHandle event = ManualResetEvent();
  int calls = 0;
  ASSERT_TRUE(loop_
                  ->Watch(event.get(), kReadable,
                          [&](uint32_t events) {
                            EXPECT_EQ(events, kReadable);
                            // Level-triggered: dispatched again each round
                            // until its owner resets it.
                            if (++calls < 3) return;
                            ResetEvent(event.get());
                            StopSoon();
                          })
                  .ok());
  SetEvent(event.get());
  RunBounded();
  EXPECT_EQ(calls, 3);
}

TEST_F(EventLoopWinTest, AutoResetEventFiresOncePerSetEvent) {
  UniqueHandle event = AutoResetEvent();
  int calls = 0;
  ASSERT_TRUE(loop_
                  ->Watch(event.get(), kReadable,
                          [&](uint32_t) {
                            // The wait consumed the signal: without this
                            // SetEvent the event is not dispatched again.
                            if (++calls < 3) SetEvent(event.get());
                            if (calls == 3) StopSoon();
                          })
                  .ok());
  SetEvent(event.get());
  SetEvent(event.get());  // still one signal: an event is not a counter
  RunBounded();
  EXPECT_EQ(calls, 3);
}

TEST_F(EventLoopWinTest, BusyHandleDoesNotStarveTheOthers) {
  // `busy` is watched first (the lower wait index) and never reset.
  UniqueHandle busy = ManualResetEvent();
  UniqueHandle other = AutoResetEvent();
  int busy_calls = 0;
  int busy_calls_before_other = -1;
  ASSERT_TRUE(
      loop_->Watch(busy.get(), kReadable, [&](uint32_t) { ++busy_calls; })
          .ok());
  ASSERT_TRUE(loop_
                  ->Watch(other.get(), kReadable,
                          [&](uint32_t) {
                            busy_calls_before_other = busy_calls;
                            loop_->Stop();
                          })
                  .ok());
  SetEvent(busy.get());
  SetEvent(other.get());
  RunBounded();
  // Both were signalled in the first round, and both ran in it.
  EXPECT_EQ(busy_calls_before_other, 1);
}

TEST_F(EventLoopWinTest, UnwatchDuringDispatchSuppressesPendingEvents) {
  // Both are signalled in the same round; whichever callback runs first
  // unwatches both, so exactly one callback runs.
  UniqueHandle a = ManualResetEvent();
  UniqueHandle b = ManualResetEvent();
  int calls = 0;
  auto unwatch_both = [&](uint32_t) {
    ++calls;
    loop_->Unwatch(a.get());
    loop_->Unwatch(b.get());
    loop_->Post([&] { StopSoon(); });
  };
  ASSERT_TRUE(loop_->Watch(a.get(), kReadable, unwatch_both).ok());
  ASSERT_TRUE(loop_->Watch(b.get(), kReadable, unwatch_both).ok());
  SetEvent(a.get());
  SetEvent(b.get());
  RunBounded();
  EXPECT_EQ(calls, 1);
}

TEST_F(EventLoopWinTest, CallbackMayRewatchItsOwnHandle) {
  UniqueHandle event = ManualResetEvent();
  int calls = 0;
  std::function<void(uint32_t)> callback = [&](uint32_t) {
    ++calls;
    loop_->Unwatch(event.get());
    if (calls == 3) {
      loop_->Stop();
      return;
    }
    // Still signalled: dispatched again after re-watching.
    ASSERT_TRUE(loop_->Watch(event.get(), kReadable, callback).ok());
  };
  ASSERT_TRUE(loop_->Watch(event.get(), kReadable, callback).ok());
  SetEvent(event.get());
  RunBounded();
  EXPECT_EQ(calls, 3);
}

TEST_F(EventLoopWinTest, WatchingAHandleTwiceFailsWithEexist) {
  UniqueHandle event = AutoResetEvent();
  ASSERT_TRUE(loop_->Watch(event.get(), kReadable, [](uint32_t) {}).ok());
  auto again = loop_->Watch(event.get(), kReadable, [](uint32_t) {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EEXIST);
}

TEST_F(EventLoopWinTest, WritableAndEdgeTriggeredAreNotSupported) {
  UniqueHandle event = AutoResetEvent();
  for (uint32_t events :
       {kWritable, kReadable | kWritable, kReadable | kEdgeTriggered}) {
    auto watched = loop_->Watch(event.get(), events, [](uint32_t) {});
    ASSERT_FALSE(watched.ok()) << events;
    EXPECT_EQ(watched.error().code(), EINVAL);
  }
  ASSERT_TRUE(loop_->Watch(event.get(), kReadable, [](uint32_t) {}).ok());
  auto modified = loop_->Modify(event.get(), kWritable);
  ASSERT_FALSE(modified.ok());
  EXPECT_EQ(modified.error().code(), EINVAL);
}

TEST_F(EventLoopWinTest, WatchingANullHandleFailsWithEbadf) {
  auto watched = loop_->Watch(nullptr, kReadable, [](uint32_t) {});
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().code(), EBADF);
}

TEST_F(EventLoopWinTest, ModifyWithoutReadablePausesAHandle) {
  UniqueHandle event = ManualResetEvent();
  int calls = 0;
  ASSERT_TRUE(loop_
                  ->Watch(event.get(), kReadable,
                          [&](uint32_t) {
                            ++calls;
                            loop_->Stop();
                          })
                  .ok());
  ASSERT_TRUE(loop_->Modify(event.get(), 0).ok());
  SetEvent(event.get());
  StopSoon();
  RunBounded();
  EXPECT_EQ(calls, 0);

  ASSERT_TRUE(loop_->Modify(event.get(), kReadable).ok());
  RunBounded();
  EXPECT_EQ(calls, 1);

  UniqueHandle unwatched = AutoResetEvent();
  auto missing = loop_->Modify(unwatched.get(), kReadable);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ENOENT);
}

TEST_F(EventLoopWinTest, WatchBeyondTheHandleLimitFailsWithEnospc) {
  std::vector<UniqueHandle> events;
  int last_calls = 0;
  for (size_t i = 0; i < kMaxWatchedHandles; ++i) {
    events.push_back(AutoResetEvent());
    const bool last = i + 1 == kMaxWatchedHandles;
    ASSERT_TRUE(loop_
                    ->Watch(events.back().get(), kReadable,
                            [&, last](uint32_t) {
                              if (!last) return;
                              ++last_calls;
                              loop_->Stop();
                            })
                    .ok())
        << i;
  }
  UniqueHandle one_more = AutoResetEvent();
  auto over = loop_->Watch(one_more.get(), kReadable, [](uint32_t) {});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), ENOSPC);

  // A full wait array works: the last handle is dispatched.
  SetEvent(events.back().get());
  RunBounded();
  EXPECT_EQ(last_calls, 1);

  // Unwatching makes room again.
  loop_->Unwatch(events.front().get());
  EXPECT_TRUE(loop_->Watch(one_more.get(), kReadable, [](uint32_t) {}).ok());
}

TEST_F(EventLoopWinTest, RunReportsAFailedWait) {
  // Not a handle of this process (as a handle closed without Unwatch).
  const HANDLE bogus = reinterpret_cast<HANDLE>(uintptr_t{0x7ffffff0});
  ASSERT_TRUE(loop_->Watch(bogus, kReadable, [](uint32_t) {}).ok());
  EXPECT_FALSE(loop_->Run().ok());
}

TEST(ConsoleSignalsTest, ControlEventsMapToSignals) {
  EXPECT_EQ(SignalFromConsoleEvent(CTRL_C_EVENT), SIGINT);
  EXPECT_EQ(SignalFromConsoleEvent(CTRL_BREAK_EVENT), SIGINT);
  EXPECT_EQ(SignalFromConsoleEvent(CTRL_CLOSE_EVENT), SIGTERM);
  EXPECT_EQ(SignalFromConsoleEvent(CTRL_SHUTDOWN_EVENT), SIGTERM);
  EXPECT_EQ(SignalFromConsoleEvent(CTRL_LOGOFF_EVENT), 0);
}

TEST_F(EventLoopWinTest, CtrlCIsDeliveredAsSigintOnTheLoopThread) {
  int received = 0;
  std::thread::id ran_on;
  ASSERT_TRUE(loop_
                  ->WatchSignals({SIGINT, SIGTERM},
                                 [&](int signo) {
                                   received = signo;
                                   ran_on = std::this_thread::get_id();
                                   loop_->Stop();
                                 })
                  .ok());
  // The handler runs on a thread of the system's; here, one of ours.
  std::thread handler(
      [] { EXPECT_TRUE(HandleConsoleCtrlEvent(CTRL_C_EVENT)); });
  RunBounded();
  handler.join();
  EXPECT_EQ(received, SIGINT);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST_F(EventLoopWinTest, UnwantedControlEventIsPassedOn) {
  // No subscriber at all, then one that wants only SIGTERM.
  EXPECT_FALSE(HandleConsoleCtrlEvent(CTRL_C_EVENT));
  ASSERT_TRUE(loop_->WatchSignals({SIGTERM}, [](int) {}).ok());
  EXPECT_FALSE(HandleConsoleCtrlEvent(CTRL_BREAK_EVENT));
  EXPECT_FALSE(HandleConsoleCtrlEvent(CTRL_LOGOFF_EVENT));
}

TEST_F(EventLoopWinTest, ControlEventAfterTheLoopIsGoneIsPassedOn) {
  bool called = false;
  ASSERT_TRUE(loop_->WatchSignals({SIGINT}, [&](int) { called = true; }).ok());
  loop_.reset();
  EXPECT_FALSE(HandleConsoleCtrlEvent(CTRL_C_EVENT));
  EXPECT_FALSE(called);
}

TEST_F(EventLoopWinTest, CloseEventHoldsOffTheEndUntilTheLoopIsGone) {
  int received = 0;
  ASSERT_TRUE(loop_
                  ->WatchSignals({SIGTERM},
                                 [&](int signo) {
                                   received = signo;
                                   loop_->Stop();
                                 })
                  .ok());
  auto handled = std::async(std::launch::async, [] {
    return HandleConsoleCtrlEvent(CTRL_CLOSE_EVENT);
  });
  RunBounded();
  EXPECT_EQ(received, SIGTERM);
  // Returning would let Windows end the process while the loop still lives.
  EXPECT_EQ(handled.wait_for(kQuiet), std::future_status::timeout);
  loop_.reset();
  ASSERT_EQ(handled.wait_for(milliseconds(2000)), std::future_status::ready);
  EXPECT_TRUE(handled.get());
}

TEST_F(EventLoopWinTest, SignalsWithoutAConsoleEventAreRejected) {
  auto watched = loop_->WatchSignals({SIGINT, SIGABRT}, [](int) {});
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().code(), EINVAL);
}

}  // namespace
}  // namespace zl::net
