#include "device/apply_plan.h"

#include <gtest/gtest.h>

namespace zl::device {
namespace {

PeerConfig Block(uint32_t n, size_t prefixes) {
  PeerConfig block;
  StoreLe32(block.public_key.data(), n + 1);
  for (size_t i = 0; i < prefixes; ++i) {
    block.allowed_ips.push_back(
        Cidr(IpAddress::V4(0x0a000000u + uint32_t(i)), 32));
  }
  return block;
}

size_t Cost(const ApplyStep& step) {
  size_t cost = 0;
  for (const PeerSlice& s : step) {
    cost += (s.head ? kPeerBlockCost : 0) +
            (s.end_prefix - s.first_prefix) * kPrefixCost;
  }
  return cost;
}

// Every block appears once as a head, then its prefixes in order, each once.
void ExpectCoversInOrder(const ConfigRequest& r,
                         const std::vector<ApplyStep>& steps) {
  size_t peer = 0, next = 0;
  bool head_seen = false;
  for (const ApplyStep& step : steps) {
    for (const PeerSlice& s : step) {
      if (s.head) {
        if (head_seen) {
          EXPECT_EQ(next, r.peers[peer].remove
                              ? 0
                              : r.peers[peer].allowed_ips.size());
          ++peer;
        }
        head_seen = true;
        next = 0;
      }
      ASSERT_LT(peer, r.peers.size());
      EXPECT_EQ(s.peer, peer);
      EXPECT_EQ(s.first_prefix, next);
      next = s.end_prefix;
    }
  }
  if (!r.peers.empty()) {
    EXPECT_EQ(peer + 1, r.peers.size());
    EXPECT_EQ(next,
              r.peers.back().remove ? 0 : r.peers.back().allowed_ips.size());
  }
}

TEST(ApplyPlanTest, SmallRequestIsOneStep) {
  ConfigRequest r;
  for (uint32_t n = 0; n < 3; ++n) r.peers.push_back(Block(n, 2));
  auto steps = PlanApplySteps(r);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0],
            (ApplyStep{{0, 0, 2, true}, {1, 0, 2, true}, {2, 0, 2, true}}));
  EXPECT_TRUE(PlanApplySteps(ConfigRequest{}).empty());
}

TEST(ApplyPlanTest, ManyPeersAreSpreadOverStepsWithinTheBudget) {
  ConfigRequest r;
  for (uint32_t n = 0; n < 1000; ++n) r.peers.push_back(Block(n, 1));
  auto steps = PlanApplySteps(r);
  const size_t per_step = kApplyStepBudget / (kPeerBlockCost + kPrefixCost);
  EXPECT_EQ(steps.size(), (1000 + per_step - 1) / per_step);
  for (const ApplyStep& step : steps) EXPECT_LE(Cost(step), kApplyStepBudget);
  ExpectCoversInOrder(r, steps);
}

TEST(ApplyPlanTest, APeerWithManyPrefixesIsSplitIntoContinuations) {
  ConfigRequest r;
  r.peers.push_back(Block(0, 10));
  r.peers.push_back(Block(1, 10'000));
  r.peers.back().replace_allowed_ips = true;
  auto steps = PlanApplySteps(r);
  ASSERT_EQ(steps.size(), 3u);
  for (const ApplyStep& step : steps) EXPECT_LE(Cost(step), kApplyStepBudget);
  ExpectCoversInOrder(r, steps);
  const PeerSlice& later = steps[1][0];
  EXPECT_FALSE(later.head);
  wg::PeerUpdate u = ToPeerUpdate(r.peers[1], later);
  EXPECT_TRUE(u.update_only);
  EXPECT_FALSE(u.replace_allowed_ips);  // a continuation never replaces
  EXPECT_EQ(u.allowed_ips.size(), later.end_prefix - later.first_prefix);
  wg::PeerUpdate head = ToPeerUpdate(r.peers[1], steps[0][1]);
  EXPECT_TRUE(head.replace_allowed_ips);
  EXPECT_FALSE(head.update_only);
}

TEST(ApplyPlanTest, RemovalIgnoresTheBlocksPrefixesAndTinyBudgetsStillEnd) {
  ConfigRequest r;
  r.peers.push_back(Block(0, 5));
  r.peers.back().remove = true;
  r.peers.push_back(Block(1, 3));
  auto steps = PlanApplySteps(r, /*budget=*/1);
  ExpectCoversInOrder(r, steps);
  EXPECT_EQ(steps.front().front().end_prefix, 0u);
  EXPECT_EQ(steps.size(), 5u);  // remove; head of 1; its 3 prefixes one by one
}

}  // namespace
}  // namespace zl::device
