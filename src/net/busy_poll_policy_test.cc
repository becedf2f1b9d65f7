#include "net/busy_poll_policy.h"

#include <gtest/gtest.h>

#include <chrono>

namespace zl::net {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using TimePoint = BusyPollPolicy::TimePoint;
using Result = BusyPollPolicy::SpinResult;

constexpr Result kPaid = Result::kFoundAfterWaiting;
constexpr Result kAtOnce = Result::kFoundAtOnce;
constexpr Result kNothing = Result::kFoundNothing;
constexpr int kThreshold = BusyPollPolicy::kFruitlessBeforeBackoff;
constexpr int kBackoff = BusyPollPolicy::kBackoffRounds;
constexpr Duration kWindow = microseconds(50);

// Made-up times: the policy never reads a clock.
const TimePoint kT0 = TimePoint(std::chrono::seconds(1000));

// On, and woken from a quiet spell at kT0: spins may start.
BusyPollPolicy OnInABurst() {
  BusyPollPolicy policy;
  policy.SetWindow(kWindow);
  policy.OnBlockingWaitEnded(kT0 - BusyPollPolicy::kQuietSpell, kT0);
  return policy;
}

// Rounds with an fd event, all at kT0, that spin, out of `rounds`, each spin
// ending with `result`.
int SpinsOver(BusyPollPolicy& policy, int rounds, Result result) {
  int spins = 0;
  for (int i = 0; i < rounds; ++i) {
    if (!policy.ShouldSpin(true, kT0)) continue;
    ++spins;
    policy.OnSpinEnded(result);
  }
  return spins;
}

TEST(BusyPollPolicyTest, OffByDefaultAndWithZeroOrNegativeWindow) {
  BusyPollPolicy policy;
  EXPECT_FALSE(policy.enabled());
  policy.OnBlockingWaitEnded(kT0 - milliseconds(10), kT0);
  EXPECT_FALSE(policy.ShouldSpin(true, kT0));
  policy.SetWindow(microseconds(-5));
  EXPECT_EQ(policy.window(), Duration::zero());
  policy.OnBlockingWaitEnded(kT0 - milliseconds(10), kT0);
  EXPECT_FALSE(policy.ShouldSpin(true, kT0));
}

TEST(BusyPollPolicyTest, SpinsOnlyAfterARoundWithAnFdEvent) {
  BusyPollPolicy policy = OnInABurst();
  EXPECT_FALSE(policy.ShouldSpin(false, kT0));
  EXPECT_TRUE(policy.ShouldSpin(true, kT0));
}

TEST(BusyPollPolicyTest, SpinsOnlyInABurstAfterAQuietSpell) {
  BusyPollPolicy policy;
  policy.SetWindow(kWindow);
  // Never slept: no burst.
  EXPECT_FALSE(policy.ShouldSpin(true, kT0));
  // Short sleeps, as under a stream: still none.
  policy.OnBlockingWaitEnded(kT0 - microseconds(100), kT0);
  EXPECT_FALSE(policy.ShouldSpin(true, kT0));
  // A quiet spell: spins may start until the burst is over.
  policy.OnBlockingWaitEnded(kT0 - BusyPollPolicy::kQuietSpell, kT0);
  const TimePoint burst_end = kT0 + BusyPollPolicy::kBurstLength + kWindow;
  EXPECT_TRUE(policy.ShouldSpin(true, kT0));
  EXPECT_TRUE(policy.ShouldSpin(true, burst_end));
  EXPECT_FALSE(policy.ShouldSpin(true, burst_end + microseconds(1)));
  // Short sleeps neither end a burst nor start one.
  policy.OnBlockingWaitEnded(kT0, kT0 + microseconds(10));
  EXPECT_TRUE(policy.ShouldSpin(true, kT0 + microseconds(20)));
  policy.OnBlockingWaitEnded(burst_end, burst_end + microseconds(10));
  EXPECT_FALSE(policy.ShouldSpin(true, burst_end + microseconds(20)));
}

TEST(BusyPollPolicyTest, SpinsThatPayKeepSpinning) {
  BusyPollPolicy policy = OnInABurst();
  EXPECT_EQ(SpinsOver(policy, 1000, kPaid), 1000);
}

TEST(BusyPollPolicyTest, SpinsThatFindEventsAtOnceNeitherPayNorCost) {
  BusyPollPolicy policy = OnInABurst();
  EXPECT_EQ(SpinsOver(policy, 1000, kAtOnce), 1000);
  // They do not reset the fruitless count either.
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, kNothing), kThreshold - 1);
  EXPECT_EQ(SpinsOver(policy, 10, kAtOnce), 10);
  EXPECT_EQ(SpinsOver(policy, 1, kNothing), 1);
  EXPECT_FALSE(policy.ShouldSpin(true, kT0));
}

// The end of a ping-pong that sends: every other spin catches the reply,
// the one after it finds nothing.
TEST(BusyPollPolicyTest, AlternatingPaidAndFruitlessSpinsKeepSpinning) {
  BusyPollPolicy policy = OnInABurst();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(policy.ShouldSpin(true, kT0)) << "round " << i;
    policy.OnSpinEnded(i % 2 == 0 ? kPaid : kNothing);
  }
}

// The end that answers: its reply is ready at once, then nothing comes
// within the window; spinning saves it nothing, so it stops.
TEST(BusyPollPolicyTest, AlternatingAtOnceAndFruitlessSpinsBackOff) {
  BusyPollPolicy policy = OnInABurst();
  int spins = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!policy.ShouldSpin(true, kT0)) continue;
    ++spins;
    policy.OnSpinEnded(i % 2 == 0 ? kAtOnce : kNothing);
  }
  EXPECT_LT(spins, 100);
}

TEST(BusyPollPolicyTest, FruitlessSpinsBackOffThenOneTrialDecides) {
  BusyPollPolicy policy = OnInABurst();
  EXPECT_EQ(SpinsOver(policy, kThreshold, kNothing), kThreshold);
  // Backing off: no spin for kBackoff rounds with fd events; rounds without
  // one do not count.
  EXPECT_FALSE(policy.ShouldSpin(false, kT0));
  EXPECT_EQ(SpinsOver(policy, kBackoff, kNothing), 0);
  // The trial spin finds nothing: another full back-off at once.
  EXPECT_EQ(SpinsOver(policy, kBackoff + 1, kNothing), 1);
  // The next trial pays: spinning after every round again.
  EXPECT_EQ(SpinsOver(policy, 100, kPaid), 100);
}

TEST(BusyPollPolicyTest, APaidSpinResetsTheFruitlessCount) {
  BusyPollPolicy policy = OnInABurst();
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, kNothing), kThreshold - 1);
  EXPECT_EQ(SpinsOver(policy, 1, kPaid), 1);
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, kNothing), kThreshold - 1);
  EXPECT_TRUE(policy.ShouldSpin(true, kT0));
}

TEST(BusyPollPolicyTest, ANeverPayingSpinTakesAboutOneRoundInTheBackoff) {
  BusyPollPolicy policy = OnInABurst();
  constexpr int kRounds = 100 * (kBackoff + 1);
  EXPECT_LE(SpinsOver(policy, kRounds, kNothing), kThreshold + 100);
}

TEST(BusyPollPolicyTest, SetWindowEndsABackoffAndTheBurst) {
  BusyPollPolicy policy = OnInABurst();
  SpinsOver(policy, kThreshold, kNothing);
  EXPECT_FALSE(policy.ShouldSpin(true, kT0));
  policy.SetWindow(microseconds(20));
  EXPECT_FALSE(policy.ShouldSpin(true, kT0));  // no quiet spell seen since
  policy.OnBlockingWaitEnded(kT0 - BusyPollPolicy::kQuietSpell, kT0);
  EXPECT_TRUE(policy.ShouldSpin(true, kT0));
}

}  // namespace
}  // namespace zl::net
