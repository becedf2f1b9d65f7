#include "net/udp_send_groups.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "net/test_util.h"

namespace zl::net {
namespace {

using testing::Ip;

const Endpoint kPeerA(Ip("192.0.2.1"), 51820);
const Endpoint kPeerB(Ip("192.0.2.2"), 51820);

// Items of the given sizes, all to `to`, their bytes from one buffer.
class Items {
 public:
  void Add(size_t size, const Endpoint& to = kPeerA,
           std::optional<IpAddress> source = std::nullopt) {
    items_.push_back(SendItem{to, ByteSpan(buffer_.data(), size), source});
  }
  std::vector<SendGroup> Plan(bool segment = true,
                              size_t max_groups = 64) const {
    std::vector<SendGroup> out(max_groups);
    out.resize(PlanSendGroups(items_, segment, out));
    return out;
  }

 private:
  std::array<uint8_t, kMaxGsoBytes + 1> buffer_{};
  std::vector<SendItem> items_;
};

TEST(PlanSendGroupsTest, EqualSizesToOnePeerFormOneGroupWithAShorterLastOne) {
  Items items;
  for (int i = 0; i < 40; ++i) items.Add(1200);
  items.Add(700);
  EXPECT_EQ(items.Plan(), (std::vector<SendGroup>{{0, 41, 1200}}));
}

TEST(PlanSendGroupsTest, AShorterItemEndsTheGroup) {
  Items items;
  items.Add(1200);
  items.Add(700);
  items.Add(700);
  items.Add(700);
  EXPECT_EQ(items.Plan(), (std::vector<SendGroup>{{0, 2, 1200}, {2, 2, 700}}));
}

TEST(PlanSendGroupsTest, ALongerItemStartsANewGroup) {
  Items items;
  items.Add(700);
  items.Add(700);
  items.Add(1200);
  items.Add(1200);
  EXPECT_EQ(items.Plan(), (std::vector<SendGroup>{{0, 2, 700}, {2, 2, 1200}}));
}

TEST(PlanSendGroupsTest, InterleavedDestinationsAreGroupsOfOne) {
  Items items;
  for (int i = 0; i < 4; ++i) items.Add(1000, i % 2 == 0 ? kPeerA : kPeerB);
  EXPECT_EQ(items.Plan(), (std::vector<SendGroup>{
                              {0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 1, 0}}));
}

TEST(PlanSendGroupsTest, RunsToEachDestinationGroupSeparately) {
  Items items;
  for (int i = 0; i < 3; ++i) items.Add(1000, kPeerA);
  for (int i = 0; i < 2; ++i) items.Add(1000, kPeerB);
  items.Add(1000, kPeerA);
  EXPECT_EQ(items.Plan(),
            (std::vector<SendGroup>{{0, 3, 1000}, {3, 2, 1000}, {5, 1, 0}}));
}

TEST(PlanSendGroupsTest, TheEffectiveSourceSplitsGroups) {
  Items items;
  items.Add(1000, kPeerA, Ip("192.0.2.10"));
  items.Add(1000, kPeerA, Ip("192.0.2.10"));
  items.Add(1000, kPeerA, Ip("192.0.2.11"));
  items.Add(1000, kPeerA);
  // A source of the other family is ignored, like none.
  items.Add(1000, kPeerA, Ip("2001:db8::1"));
  EXPECT_EQ(items.Plan(),
            (std::vector<SendGroup>{{0, 2, 1000}, {2, 1, 0}, {3, 2, 1000}}));
}

TEST(PlanSendGroupsTest, AtMostKMaxGsoSegmentsPerGroup) {
  Items items;
  for (size_t i = 0; i < kMaxGsoSegments * 2 + 1; ++i) items.Add(100);
  EXPECT_EQ(items.Plan(),
            (std::vector<SendGroup>{{0, kMaxGsoSegments, 100},
                                    {kMaxGsoSegments, kMaxGsoSegments, 100},
                                    {2 * kMaxGsoSegments, 1, 0}}));
}

TEST(PlanSendGroupsTest, AtMostKMaxGsoBytesPerGroup) {
  Items items;
  // 46 × 1400 = 64400 fits; a 47th would make 65800.
  for (int i = 0; i < 50; ++i) items.Add(1400);
  const auto groups = items.Plan();
  EXPECT_EQ(groups, (std::vector<SendGroup>{{0, 46, 1400}, {46, 4, 1400}}));
  // A short last item that still fits joins.
  Items more;
  for (int i = 0; i < 46; ++i) more.Add(1400);
  more.Add(600);
  EXPECT_EQ(more.Plan(), (std::vector<SendGroup>{{0, 47, 1400}}));
}

TEST(PlanSendGroupsTest, EmptyAndOversizedItemsStandAlone) {
  Items items;
  items.Add(500);
  items.Add(0);
  items.Add(0);
  items.Add(kMaxGsoBytes + 1);
  items.Add(kMaxGsoBytes + 1);
  EXPECT_EQ(items.Plan(),
            (std::vector<SendGroup>{
                {0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {4, 1, 0}}));
}

TEST(PlanSendGroupsTest, WithoutSegmentationEveryItemIsAGroup) {
  Items items;
  for (int i = 0; i < 3; ++i) items.Add(1200);
  EXPECT_EQ(items.Plan(/*segment=*/false),
            (std::vector<SendGroup>{{0, 1, 0}, {1, 1, 0}, {2, 1, 0}}));
}

TEST(PlanSendGroupsTest, StopsWhenOutIsFull) {
  Items items;
  for (int i = 0; i < 5; ++i) items.Add(1200, i % 2 == 0 ? kPeerA : kPeerB);
  EXPECT_EQ(items.Plan(true, 2),
            (std::vector<SendGroup>{{0, 1, 0}, {1, 1, 0}}));
  EXPECT_TRUE(items.Plan(true, 0).empty());
}

TEST(PlanSendGroupsTest, NoItemsNoGroups) {
  Items items;
  EXPECT_TRUE(items.Plan().empty());
}

}  // namespace
}  // namespace zl::net
