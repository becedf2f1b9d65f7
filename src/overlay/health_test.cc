#include "overlay/health.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zl::overlay {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Duration kStep = seconds(5);  // the daemon's health period
const MonoTime kStart{seconds(1000)};

constexpr std::optional<Duration> kNever = std::nullopt;
constexpr std::optional<Duration> kFresh = seconds(10);
constexpr std::optional<bool> kNoProbe = std::nullopt;
constexpr std::optional<bool> kOk = true;
constexpr std::optional<bool> kLost = false;

constexpr Health kUp = Health::kUp;
constexpr Health kDegraded = Health::kDegraded;
constexpr Health kDown = Health::kDown;

// One observation and what must follow from it.
struct Step {
  std::optional<Duration> handshake_age;
  std::optional<bool> probe_ok;
  Health want;
  bool changed;
};

// Feeds `steps` one kStep apart from kStart and checks each outcome.
void RunSequence(PeerHealth& health, const std::vector<Step>& steps) {
  MonoTime now = kStart;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    PeerObservation observation;
    observation.handshake_age = step.handshake_age;
    observation.probe_ok = step.probe_ok;
    if (step.probe_ok == true) observation.probe_rtt = milliseconds(3);
    const bool changed = health.Observe(observation, now);
    EXPECT_EQ(HealthName(health.state()), std::string(HealthName(step.want)))
        << "step " << i;
    EXPECT_EQ(changed, step.changed) << "step " << i;
    now += kStep;
  }
}

void RunSequence(const std::vector<Step>& steps) {
  PeerHealth health;
  RunSequence(health, steps);
}

TEST(HealthNameTest, NamesEveryState) {
  EXPECT_STREQ(HealthName(Health::kUnknown), "unknown");
  EXPECT_STREQ(HealthName(Health::kUp), "up");
  EXPECT_STREQ(HealthName(Health::kDegraded), "degraded");
  EXPECT_STREQ(HealthName(Health::kDown), "down");
}

TEST(PeerHealthTest, StartsUnknownWithNoSince) {
  PeerHealth health;
  EXPECT_EQ(health.state(), Health::kUnknown);
  EXPECT_FALSE(health.since().has_value());
  EXPECT_EQ(health.probe_loss(), 0.0);
  EXPECT_EQ(health.consecutive_failed_probes(), 0);
  EXPECT_FALSE(health.last_rtt().has_value());
}

TEST(PeerHealthTest, NeverHandshakedIsDown) {
  RunSequence({
      {kNever, kNoProbe, kDown, true},
      {kNever, kNoProbe, kDown, false},
      {kNever, kOk, kDown, false},  // a probe reply cannot beat "no keys"
  });
}

TEST(PeerHealthTest, FirstVerdictIsTakenAtOnce) {
  RunSequence({{kFresh, kOk, kUp, true}, {kFresh, kOk, kUp, false}});
}

TEST(PeerHealthTest, FreshHandshakeAndGoodProbesRecoverFromDownAfterTwo) {
  RunSequence({
      {kNever, kNoProbe, kDown, true},
      {kFresh, kOk, kDown, false},  // one good verdict is not enough
      {kFresh, kOk, kUp, true},     // recover_after = 2
      {kFresh, kOk, kUp, false},
  });
}

TEST(PeerHealthTest, OneLostProbeDoesNotFlap) {
  RunSequence({
      {kFresh, kOk, kUp, true},
      {kFresh, kLost, kUp, false},
      {kFresh, kOk, kUp, false},
      {kFresh, kLost, kUp, false},
      {kFresh, kOk, kUp, false},
  });
}

TEST(PeerHealthTest, TwoLostProbesInARowDegradeAtOnce) {
  RunSequence({
      {kFresh, kOk, kUp, true},
      {kFresh, kLost, kUp, false},
      {kFresh, kLost, kDegraded, true},
  });
}

TEST(PeerHealthTest, FiveLostProbesInARowAreDown) {
  RunSequence({
      {kFresh, kOk, kUp, true},
      {kFresh, kLost, kUp, false},
      {kFresh, kLost, kDegraded, true},
      {kFresh, kLost, kDegraded, false},
      {kFresh, kLost, kDegraded, false},
      {kFresh, kLost, kDown, true},
      {kFresh, kLost, kDown, false},
  });
}

TEST(PeerHealthTest, ObservationsWithoutProbeKeepTheFailureCount) {
  PeerHealth health;
  RunSequence(health, {
                          {kFresh, kOk, kUp, true},
                          {kFresh, kLost, kUp, false},
                          {kFresh, kNoProbe, kUp, false},
                          {kFresh, kLost, kDegraded, true},
                      });
  EXPECT_EQ(health.consecutive_failed_probes(), 2);
}

TEST(PeerHealthTest, HandshakeAgeThresholds) {
  struct Case {
    Duration age;
    Health want;
  };
  const Case cases[] = {
      {seconds(0), kUp},         {seconds(149), kUp},
      {seconds(150), kDegraded}, {seconds(179), kDegraded},
      {seconds(180), kDown},     {seconds(100000), kDown},
  };
  for (const Case& c : cases) {
    PeerHealth health;
    PeerObservation observation;
    observation.handshake_age = c.age;
    EXPECT_TRUE(health.Observe(observation, kStart));
    EXPECT_EQ(health.state(), c.want)
        << "age " << std::chrono::duration_cast<seconds>(c.age).count();
  }
}

TEST(PeerHealthTest, AgeingHandshakeDegradesThenGoesDown) {
  RunSequence({
      {seconds(140), kOk, kUp, true},
      {seconds(150), kOk, kDegraded, true},
      {seconds(175), kOk, kDegraded, false},
      {seconds(180), kOk, kDown, true},
  });
}

TEST(PeerHealthTest, RecoveryNeedsConsecutiveBetterVerdicts) {
  RunSequence({
      {kFresh, kLost, kUp, true},
      {kFresh, kLost, kDegraded, true},
      {kFresh, kOk, kDegraded, false},          // 1 of 2
      {seconds(160), kOk, kDegraded, false},  // run broken
      {kFresh, kOk, kDegraded, false},    // 1 of 2 again
      {kFresh, kOk, kUp, true},           // 2 of 2
  });
}

TEST(PeerHealthTest, RecoveryRunThroughMixedVerdictsEarnsTheWorstOfThem) {
  RunSequence({
      {kNever, kNoProbe, kDown, true},
      {seconds(160), kOk, kDown, false},  // degraded: better than down
      {kFresh, kOk, kDegraded, true},     // run of 2; the worst was degraded
      {kFresh, kOk, kDegraded, false},
      {kFresh, kOk, kUp, true},
  });
}

TEST(PeerHealthTest, WorseVerdictDuringRecoveryIsTakenAtOnce) {
  RunSequence({
      {kFresh, kLost, kUp, true},
      {kFresh, kLost, kDegraded, true},
      {kFresh, kOk, kDegraded, false},
      {kNever, kOk, kDown, true},
      {kFresh, kOk, kDown, false},
      {kFresh, kOk, kUp, true},
  });
}

TEST(PeerHealthTest, RecoverAfterIsConfigurable) {
  HealthOptions options;
  options.recover_after = 4;
  PeerHealth health(options);
  RunSequence(health, {
                          {kNever, kNoProbe, kDown, true},
                          {kFresh, kOk, kDown, false},
                          {kFresh, kOk, kDown, false},
                          {kFresh, kOk, kDown, false},
                          {kFresh, kOk, kUp, true},
                      });
}

TEST(PeerHealthTest, LossRatioOverTheWindowDegrades) {
  // Alternating loss never makes 2 in a row, but 50 % over a full window of
  // 10 is past degraded_loss (0.3).
  std::vector<Step> steps;
  for (int i = 0; i < 9; ++i) {
    steps.push_back({kFresh, i % 2 == 0 ? kLost : kOk, kUp, i == 0});
  }
  steps.push_back({kFresh, kOk, kDegraded, true});  // 10th probe: window full
  PeerHealth health;
  RunSequence(health, steps);
  EXPECT_DOUBLE_EQ(health.probe_loss(), 0.5);
}

TEST(PeerHealthTest, LossBelowTheThresholdStaysUp) {
  // 2 lost of every 10, never in a row: 20 % < 30 %.
  std::vector<Step> steps;
  for (int i = 0; i < 30; ++i) {
    steps.push_back({kFresh, i % 5 == 2 ? kLost : kOk, kUp, i == 0});
  }
  PeerHealth health;
  RunSequence(health, steps);
  EXPECT_DOUBLE_EQ(health.probe_loss(), 0.2);
}

TEST(PeerHealthTest, OldLossLeavesTheWindow) {
  HealthOptions options;
  options.loss_window = 4;
  options.degraded_loss = 0.5;
  PeerHealth health(options);
  RunSequence(health, {
                          {kFresh, kOk, kUp, true},
                          {kFresh, kLost, kUp, false},
                          {kFresh, kOk, kUp, false},
                          {kFresh, kLost, kDegraded, true},  // 2 of 4
                          {kFresh, kOk, kDegraded, false},   // 2 of 4
                          {kFresh, kOk, kDegraded, false},   // 1 of 4: better
                          {kFresh, kOk, kUp, true},          // 1 of 4 again
                      });
  EXPECT_DOUBLE_EQ(health.probe_loss(), 0.25);
}

TEST(PeerHealthTest, ProbeLossCountsOnlyProbes) {
  PeerHealth health;
  PeerObservation observation;
  observation.handshake_age = kFresh;
  health.Observe(observation, kStart);
  EXPECT_EQ(health.probe_loss(), 0.0);
  observation.probe_ok = false;
  health.Observe(observation, kStart);
  observation.probe_ok = true;
  health.Observe(observation, kStart);
  health.Observe(observation, kStart);
  health.Observe(observation, kStart);
  EXPECT_DOUBLE_EQ(health.probe_loss(), 0.25);
}

TEST(PeerHealthTest, SinceMovesOnlyOnChanges) {
  PeerHealth health;
  PeerObservation up;
  up.handshake_age = kFresh;
  up.probe_ok = true;
  PeerObservation lost = up;
  lost.probe_ok = false;

  const MonoTime t0 = kStart;
  EXPECT_TRUE(health.Observe(up, t0));
  EXPECT_EQ(health.since(), t0);
  EXPECT_FALSE(health.Observe(up, t0 + seconds(5)));
  EXPECT_EQ(health.since(), t0);
  EXPECT_FALSE(health.Observe(lost, t0 + seconds(10)));
  EXPECT_EQ(health.since(), t0);
  EXPECT_TRUE(health.Observe(lost, t0 + seconds(15)));
  EXPECT_EQ(health.state(), Health::kDegraded);
  EXPECT_EQ(health.since(), t0 + seconds(15));
  EXPECT_FALSE(health.Observe(up, t0 + seconds(20)));
  EXPECT_EQ(health.since(), t0 + seconds(15));
  EXPECT_TRUE(health.Observe(up, t0 + seconds(25)));
  EXPECT_EQ(health.state(), Health::kUp);
  EXPECT_EQ(health.since(), t0 + seconds(25));
}

TEST(PeerHealthTest, KeepsTheLastSuccessfulRtt) {
  PeerHealth health;
  PeerObservation observation;
  observation.handshake_age = kFresh;
  observation.probe_ok = true;
  observation.probe_rtt = milliseconds(7);
  health.Observe(observation, kStart);
  EXPECT_EQ(health.last_rtt(), Duration(milliseconds(7)));
  observation.probe_ok = false;
  observation.probe_rtt = std::nullopt;
  health.Observe(observation, kStart + kStep);
  EXPECT_EQ(health.last_rtt(), Duration(milliseconds(7)));
  observation.probe_ok = true;
  observation.probe_rtt = milliseconds(2);
  health.Observe(observation, kStart + 2 * kStep);
  EXPECT_EQ(health.last_rtt(), Duration(milliseconds(2)));
}

TEST(PeerHealthTest, ConsecutiveFailuresResetOnSuccess) {
  PeerHealth health;
  PeerObservation observation;
  observation.handshake_age = kFresh;
  observation.probe_ok = false;
  for (int i = 1; i <= 3; ++i) {
    health.Observe(observation, kStart);
    EXPECT_EQ(health.consecutive_failed_probes(), i);
  }
  observation.probe_ok = true;
  health.Observe(observation, kStart);
  EXPECT_EQ(health.consecutive_failed_probes(), 0);
}

}  // namespace
}  // namespace zl::overlay
