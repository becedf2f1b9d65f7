#include "net/busy_poll_policy.h"

#include <gtest/gtest.h>

#include <chrono>

namespace zl::net {
namespace {

using std::chrono::microseconds;

using Result = BusyPollPolicy::SpinResult;
constexpr Result kPaid = Result::kFoundAfterWaiting;
constexpr Result kAtOnce = Result::kFoundAtOnce;
constexpr Result kNothing = Result::kFoundNothing;

constexpr int kThreshold = BusyPollPolicy::kFruitlessBeforeBackoff;
constexpr int kBackoff = BusyPollPolicy::kBackoffRounds;

BusyPollPolicy On() {
  BusyPollPolicy policy;
  policy.SetWindow(microseconds(50));
  return policy;
}

// Rounds with an fd event that spin, out of `rounds`, each spin finding
// `result`.
int SpinsOver(BusyPollPolicy& policy, int rounds, Result result) {
  int spins = 0;
  for (int i = 0; i < rounds; ++i) {
    if (!policy.ShouldSpin(true)) continue;
    ++spins;
    policy.OnSpinEnded(result);
  }
  return spins;
}

TEST(BusyPollPolicyTest, OffByDefaultAndWithZeroOrNegativeWindow) {
  BusyPollPolicy policy;
  EXPECT_EQ(policy.window(), Duration::zero());
  EXPECT_FALSE(policy.ShouldSpin(true));
  policy.SetWindow(microseconds(-5));
  EXPECT_EQ(policy.window(), Duration::zero());
  EXPECT_FALSE(policy.ShouldSpin(true));
}

TEST(BusyPollPolicyTest, SpinsOnlyAfterARoundWithAnFdEvent) {
  BusyPollPolicy policy = On();
  EXPECT_FALSE(policy.ShouldSpin(false));
  EXPECT_TRUE(policy.ShouldSpin(true));
}

TEST(BusyPollPolicyTest, SpinsThatPayKeepSpinning) {
  BusyPollPolicy policy = On();
  EXPECT_EQ(SpinsOver(policy, 1000, kPaid), 1000);
}

TEST(BusyPollPolicyTest, SpinsThatFindEventsAtOnceNeitherPayNorCost) {
  BusyPollPolicy policy = On();
  EXPECT_EQ(SpinsOver(policy, 1000, kAtOnce), 1000);
  // They do not reset the fruitless count either.
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, kNothing), kThreshold - 1);
  EXPECT_EQ(SpinsOver(policy, 10, kAtOnce), 10);
  EXPECT_EQ(SpinsOver(policy, 1, kNothing), 1);
  EXPECT_FALSE(policy.ShouldSpin(true));
}

// The end of a ping-pong that sends: every other spin catches the reply,
// the one after it finds nothing.
TEST(BusyPollPolicyTest, AlternatingPaidAndFruitlessSpinsKeepSpinning) {
  BusyPollPolicy policy = On();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(policy.ShouldSpin(true)) << "round " << i;
    policy.OnSpinEnded(i % 2 == 0 ? kPaid : kNothing);
  }
}

// The end that answers: its reply is ready at once, then nothing comes
// within the window; spinning saves it nothing, so it stops.
TEST(BusyPollPolicyTest, AlternatingAtOnceAndFruitlessSpinsBackOff) {
  BusyPollPolicy policy = On();
  int spins = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!policy.ShouldSpin(true)) continue;
    ++spins;
    policy.OnSpinEnded(i % 2 == 0 ? kAtOnce : kNothing);
  }
  EXPECT_LT(spins, 100);
}

TEST(BusyPollPolicyTest, FruitlessSpinsBackOffThenOneTrialDecides) {
  BusyPollPolicy policy = On();
  EXPECT_EQ(SpinsOver(policy, kThreshold, kNothing), kThreshold);
  // Backing off: no spin for kBackoff rounds with fd events; rounds without
  // one do not count.
  EXPECT_FALSE(policy.ShouldSpin(false));
  EXPECT_EQ(SpinsOver(policy, kBackoff, kNothing), 0);
  // The trial spin finds nothing: another full back-off at once.
  EXPECT_EQ(SpinsOver(policy, kBackoff + 1, kNothing), 1);
  // The next trial finds something: spinning after every round again.
  EXPECT_EQ(SpinsOver(policy, 100, kPaid), 100);
}

TEST(BusyPollPolicyTest, AHitResetsTheFruitlessCount) {
  BusyPollPolicy policy = On();
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, kNothing), kThreshold - 1);
  EXPECT_EQ(SpinsOver(policy, 1, kPaid), 1);
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, kNothing), kThreshold - 1);
  EXPECT_TRUE(policy.ShouldSpin(true));
}

TEST(BusyPollPolicyTest, ANeverPayingSpinTakesAboutOneRoundInTheBackoff) {
  BusyPollPolicy policy = On();
  constexpr int kRounds = 100 * (kBackoff + 1);
  EXPECT_LE(SpinsOver(policy, kRounds, kNothing), kThreshold + 100);
}

TEST(BusyPollPolicyTest, SetWindowEndsABackoff) {
  BusyPollPolicy policy = On();
  SpinsOver(policy, kThreshold, kNothing);
  EXPECT_FALSE(policy.ShouldSpin(true));
  policy.SetWindow(microseconds(20));
  EXPECT_TRUE(policy.ShouldSpin(true));
}

}  // namespace
}  // namespace zl::net
