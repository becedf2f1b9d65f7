#include "net/timer_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace zl::net {
namespace {

using std::chrono::milliseconds;

// Fake time: the queue never reads a clock.
const MonoTime kStart = MonoTime(std::chrono::seconds(1000));

MonoTime At(int ms) { return kStart + milliseconds(ms); }

class TimerQueueTest : public ::testing::Test {
 protected:
  // Adds a timer that records `name` each time it fires.
  TimerId AddNamed(const std::string& name, int first_ms, int interval_ms = 0) {
    return queue_.Add(kStart, milliseconds(first_ms), milliseconds(interval_ms),
                      [this, name] { fired_.push_back(name); });
  }

  // Every deadline the queue armed the loop's OS timer for.
  std::vector<std::optional<MonoTime>> armed_;
  TimerQueue queue_{
      [this](std::optional<MonoTime> deadline) { armed_.push_back(deadline); }};
  std::vector<std::string> fired_;
};

TEST_F(TimerQueueTest, EmptyQueueHasNoDeadline) {
  EXPECT_EQ(queue_.NextDeadline(), std::nullopt);
  queue_.RunDue(At(1'000'000));
  EXPECT_TRUE(fired_.empty());
}

TEST_F(TimerQueueTest, FiresInDeadlineOrderThenCreationOrder) {
  AddNamed("c", 30);
  AddNamed("a", 10);
  AddNamed("b1", 20);
  AddNamed("b2", 20);
  EXPECT_EQ(queue_.NextDeadline(), At(10));
  queue_.RunDue(At(30));
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "b1", "b2", "c"}));
}

TEST_F(TimerQueueTest, OnlyDueTimersFire) {
  AddNamed("early", 10);
  AddNamed("late", 20);
  queue_.RunDue(At(9));
  EXPECT_TRUE(fired_.empty());
  queue_.RunDue(At(10));  // a deadline equal to now is due
  EXPECT_EQ(fired_, (std::vector<std::string>{"early"}));
  EXPECT_EQ(queue_.NextDeadline(), At(20));
}

TEST_F(TimerQueueTest, OneShotIsRemovedAfterFiring) {
  const TimerId id = AddNamed("once", 5);
  queue_.RunDue(At(5));
  queue_.RunDue(At(100));
  EXPECT_EQ(fired_, (std::vector<std::string>{"once"}));
  EXPECT_EQ(queue_.size(), 0u);
  EXPECT_EQ(queue_.NextDeadline(), std::nullopt);
  EXPECT_FALSE(queue_.Reset(id, At(100), milliseconds(1), milliseconds(0)));
}

TEST_F(TimerQueueTest, PeriodicTimerRepeatsAtItsInterval) {
  AddNamed("tick", 10, 10);
  for (int t : {10, 20, 30}) {
    queue_.RunDue(At(t));
    EXPECT_EQ(queue_.NextDeadline(), At(t + 10));
  }
  EXPECT_EQ(fired_.size(), 3u);
}

TEST_F(TimerQueueTest, PeriodicTimerSkipsMissedTicks) {
  AddNamed("tick", 10, 10);
  // Due at 10, 20, 30, 40 and 50; the loop was busy until 55.
  queue_.RunDue(At(55));
  EXPECT_EQ(fired_.size(), 1u);
  EXPECT_EQ(queue_.NextDeadline(), At(60));
}

TEST_F(TimerQueueTest, NegativeDurationsCountAsZero) {
  AddNamed("now", -5, -5);
  EXPECT_EQ(queue_.NextDeadline(), kStart);
  queue_.RunDue(kStart);
  EXPECT_EQ(fired_.size(), 1u);
  EXPECT_EQ(queue_.size(), 0u) << "a negative interval made it periodic";
}

TEST_F(TimerQueueTest, ResetPostponesAndChangesTheInterval) {
  const TimerId a = AddNamed("a", 5);
  AddNamed("b", 15);
  EXPECT_TRUE(queue_.Reset(a, At(10), milliseconds(20), milliseconds(20)));
  EXPECT_EQ(queue_.NextDeadline(), At(15));
  queue_.RunDue(At(30));
  EXPECT_EQ(fired_, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(queue_.NextDeadline(), At(50)) << "now periodic";
}

TEST_F(TimerQueueTest, CancelledTimerNeverFires) {
  const TimerId id = AddNamed("x", 5);
  queue_.Cancel(id);
  queue_.Cancel(id);  // no-op the second time
  queue_.RunDue(At(100));
  EXPECT_TRUE(fired_.empty());
  EXPECT_EQ(queue_.NextDeadline(), std::nullopt);
}

TEST_F(TimerQueueTest, PeriodicTimerMayCancelItselfFromItsCallback) {
  int ticks = 0;
  TimerId id;
  id = queue_.Add(kStart, milliseconds(1), milliseconds(1), [&] {
    if (++ticks == 3) queue_.Cancel(id);
  });
  for (int t = 1; t <= 10; ++t) queue_.RunDue(At(t));
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(queue_.size(), 0u);
}

TEST_F(TimerQueueTest, OneShotIsGoneWhileItsCallbackRuns) {
  bool reset = true;
  TimerId id;
  id = queue_.Add(kStart, milliseconds(1), milliseconds(0), [&] {
    reset = queue_.Reset(id, At(1), milliseconds(1), milliseconds(0));
  });
  queue_.RunDue(At(1));
  EXPECT_FALSE(reset);
  EXPECT_EQ(queue_.NextDeadline(), std::nullopt);
}

TEST_F(TimerQueueTest, PeriodicTimerMayRearmItselfFromItsCallback) {
  int fires = 0;
  TimerId id;
  id = queue_.Add(kStart, milliseconds(1), milliseconds(1), [&] {
    ++fires;
    EXPECT_TRUE(queue_.Reset(id, At(1), milliseconds(10), milliseconds(10)));
  });
  queue_.RunDue(At(1));
  EXPECT_EQ(queue_.NextDeadline(), At(11));
  queue_.RunDue(At(5));
  EXPECT_EQ(fires, 1);
}

TEST_F(TimerQueueTest, CallbackCancellingALaterDueTimerSuppressesIt) {
  TimerId second;
  queue_.Add(kStart, milliseconds(1), milliseconds(0), [&] {
    fired_.push_back("first");
    queue_.Cancel(second);
  });
  second = AddNamed("second", 2);
  queue_.RunDue(At(5));
  EXPECT_EQ(fired_, (std::vector<std::string>{"first"}));
}

TEST_F(TimerQueueTest, CallbackPostponingALaterDueTimerDefersIt) {
  TimerId second;
  queue_.Add(kStart, milliseconds(1), milliseconds(0), [&] {
    fired_.push_back("first");
    queue_.Reset(second, At(5), milliseconds(10), milliseconds(0));
  });
  second = AddNamed("second", 2);
  queue_.RunDue(At(5));
  EXPECT_EQ(fired_, (std::vector<std::string>{"first"}));
  queue_.RunDue(At(15));
  EXPECT_EQ(fired_, (std::vector<std::string>{"first", "second"}));
}

TEST_F(TimerQueueTest, TimerAddedByACallbackRunsAtALaterCallOnly) {
  queue_.Add(kStart, milliseconds(1), milliseconds(0), [&] {
    fired_.push_back("outer");
    AddNamed("inner", 0);  // due at kStart, already past
  });
  queue_.RunDue(At(1));
  EXPECT_EQ(fired_, (std::vector<std::string>{"outer"}));
  queue_.RunDue(At(1));
  EXPECT_EQ(fired_, (std::vector<std::string>{"outer", "inner"}));
}

using Armed = std::vector<std::optional<MonoTime>>;

TEST_F(TimerQueueTest, ArmsOnlyWhenTheEarliestDeadlineChanges) {
  AddNamed("c", 30);
  AddNamed("a", 10);
  AddNamed("b", 20);  // not the earliest: the OS timer stays as it is
  EXPECT_EQ(armed_, (Armed{At(30), At(10)}));
}

TEST_F(TimerQueueTest, RunDueRearmsForTheNextDeadline) {
  AddNamed("a", 10);
  AddNamed("b", 20);
  AddNamed("tick", 15, 15);
  armed_.clear();
  queue_.RunDue(At(15));
  EXPECT_EQ(armed_, (Armed{At(20)}));
  queue_.RunDue(At(20));
  EXPECT_EQ(armed_, (Armed{At(20), At(30)})) << "the periodic tick's next";
}

TEST_F(TimerQueueTest, RunDueRearmsEvenForTheSameDeadline) {
  // The OS timer fired early (the Windows loop caps its sleep): arm again.
  AddNamed("a", 10);
  queue_.RunDue(At(5));
  EXPECT_EQ(armed_, (Armed{At(10), At(10)}));
}

TEST_F(TimerQueueTest, ResetRearmsAndCancelDoesNot) {
  const TimerId a = AddNamed("a", 10);
  EXPECT_TRUE(queue_.Reset(a, kStart, milliseconds(40), milliseconds(0)));
  queue_.Cancel(a);
  EXPECT_EQ(armed_, (Armed{At(10), At(40)}));
  // The OS timer fires once for nothing and is left disarmed.
  queue_.RunDue(At(40));
  EXPECT_EQ(armed_.size(), 2u);
  EXPECT_TRUE(fired_.empty());
}

TEST_F(TimerQueueTest, CallbackAddingATimerArmsForIt) {
  queue_.Add(kStart, milliseconds(1), milliseconds(0),
             [&] { AddNamed("later", 50); });
  queue_.RunDue(At(1));
  ASSERT_FALSE(armed_.empty());
  EXPECT_EQ(armed_.back(), At(50));
}

TEST_F(TimerQueueTest, IdsAreNeverReused) {
  const TimerId a = AddNamed("a", 1);
  queue_.Cancel(a);
  const TimerId b = AddNamed("b", 1);
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(queue_.Reset(a, kStart, milliseconds(1), milliseconds(0)));
}

TEST_F(TimerQueueTest, PendingCallbacksAreDestroyedWithTheQueue) {
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  {
    TimerQueue queue([](std::optional<MonoTime>) {});
    queue.Add(kStart, milliseconds(1), milliseconds(0),
              [token = std::move(token)] {});
    EXPECT_FALSE(watch.expired());
  }
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace zl::net
