#include "net/busy_poll_policy.h"

#include <gtest/gtest.h>

#include <chrono>

namespace zl::net {
namespace {

using std::chrono::microseconds;

constexpr int kThreshold = BusyPollPolicy::kFruitlessBeforeBackoff;
constexpr int kBackoff = BusyPollPolicy::kBackoffRounds;

BusyPollPolicy On() {
  BusyPollPolicy policy;
  policy.SetWindow(microseconds(50));
  return policy;
}

// Rounds with an fd event that spin, out of `rounds`, each spin finding
// `found`.
int SpinsOver(BusyPollPolicy& policy, int rounds, bool found) {
  int spins = 0;
  for (int i = 0; i < rounds; ++i) {
    if (!policy.ShouldSpin(true)) continue;
    ++spins;
    policy.OnSpinEnded(found);
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

TEST(BusyPollPolicyTest, SpinsThatFindEventsKeepSpinning) {
  BusyPollPolicy policy = On();
  EXPECT_EQ(SpinsOver(policy, 1000, true), 1000);
}

// A ping-pong: every other spin finds the reply, the one after it nothing.
TEST(BusyPollPolicyTest, AlternatingHitsAndMissesKeepSpinning) {
  BusyPollPolicy policy = On();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(policy.ShouldSpin(true)) << "round " << i;
    policy.OnSpinEnded(i % 2 == 0);
  }
}

TEST(BusyPollPolicyTest, FruitlessSpinsBackOffThenOneTrialDecides) {
  BusyPollPolicy policy = On();
  EXPECT_EQ(SpinsOver(policy, kThreshold, false), kThreshold);
  // Backing off: no spin for kBackoff rounds with fd events; rounds without
  // one do not count.
  EXPECT_FALSE(policy.ShouldSpin(false));
  EXPECT_EQ(SpinsOver(policy, kBackoff, false), 0);
  // The trial spin finds nothing: another full back-off at once.
  EXPECT_EQ(SpinsOver(policy, kBackoff + 1, false), 1);
  // The next trial finds something: spinning after every round again.
  EXPECT_EQ(SpinsOver(policy, 100, true), 100);
}

TEST(BusyPollPolicyTest, AHitResetsTheFruitlessCount) {
  BusyPollPolicy policy = On();
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, false), kThreshold - 1);
  EXPECT_EQ(SpinsOver(policy, 1, true), 1);
  EXPECT_EQ(SpinsOver(policy, kThreshold - 1, false), kThreshold - 1);
  EXPECT_TRUE(policy.ShouldSpin(true));
}

TEST(BusyPollPolicyTest, ANeverPayingSpinTakesAboutOneRoundInTheBackoff) {
  BusyPollPolicy policy = On();
  constexpr int kRounds = 100 * (kBackoff + 1);
  EXPECT_LE(SpinsOver(policy, kRounds, false), kThreshold + 100);
}

TEST(BusyPollPolicyTest, SetWindowEndsABackoff) {
  BusyPollPolicy policy = On();
  SpinsOver(policy, kThreshold, false);
  EXPECT_FALSE(policy.ShouldSpin(true));
  policy.SetWindow(microseconds(20));
  EXPECT_TRUE(policy.ShouldSpin(true));
}

}  // namespace
}  // namespace zl::net
