#include "wg/index_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "crypto/random.h"

namespace zl::wg {
namespace {

using Kind = IndexTable::Entry::Kind;

// Hands out a fixed sequence of 32-bit values, little-endian, 4 bytes per
// Fill (what IndexTable asks for), then repeats the last one.
class SequenceRng final : public crypto::Rng {
 public:
  explicit SequenceRng(std::vector<uint32_t> values)
      : values_(std::move(values)) {}
  void Fill(MutableByteSpan out) override {
    ASSERT_EQ(out.size(), 4u);
    const uint32_t v = values_[std::min(next_, values_.size() - 1)];
    ++next_;
    StoreLe32(out.data(), v);
  }
  size_t draws() const { return next_; }

 private:
  std::vector<uint32_t> values_;
  size_t next_ = 0;
};

// A small linear congruential stream: enough variety for the uniqueness test
// without depending on the crypto layer's generators.
class CountingRng final : public crypto::Rng {
 public:
  void Fill(MutableByteSpan out) override {
    for (uint8_t& b : out) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
      b = uint8_t(state_ >> 56);
    }
  }

 private:
  uint64_t state_ = 1;
};

TEST(IndexTableTest, AllocatedIndicesAreUniqueAndNonZero) {
  CountingRng rng;
  IndexTable table;
  std::unordered_set<uint32_t> seen;
  for (PeerId peer = 1; peer <= 10'000; ++peer) {
    const uint32_t index = table.Allocate(rng, {peer, Kind::kKeypair});
    EXPECT_NE(index, 0u);
    EXPECT_TRUE(seen.insert(index).second) << index;
  }
  EXPECT_EQ(table.size(), 10'000u);
}

TEST(IndexTableTest, FindReturnsWhatWasAllocated) {
  SequenceRng rng({0x11111111, 0x22222222});
  IndexTable table;
  const uint32_t a = table.Allocate(rng, {7, Kind::kHandshake});
  const uint32_t b = table.Allocate(rng, {8, Kind::kKeypair});
  EXPECT_EQ(a, 0x11111111u);
  EXPECT_EQ(b, 0x22222222u);
  ASSERT_NE(table.Find(a), nullptr);
  EXPECT_EQ(*table.Find(a), (IndexTable::Entry{7, Kind::kHandshake}));
  EXPECT_EQ(*table.Find(b), (IndexTable::Entry{8, Kind::kKeypair}));
  EXPECT_EQ(table.Find(0x33333333), nullptr);
  EXPECT_EQ(table.Find(0), nullptr);
}

TEST(IndexTableTest, EraseFreesTheIndex) {
  SequenceRng rng({5, 5});
  IndexTable table;
  EXPECT_EQ(table.Allocate(rng, {1, Kind::kHandshake}), 5u);
  EXPECT_TRUE(table.Erase(5));
  EXPECT_FALSE(table.Erase(5));
  EXPECT_EQ(table.Find(5), nullptr);
  EXPECT_EQ(table.size(), 0u);
  // The freed index may be drawn again.
  EXPECT_EQ(table.Allocate(rng, {2, Kind::kKeypair}), 5u);
  EXPECT_EQ(table.Find(5)->peer, 2u);
}

TEST(IndexTableTest, CollisionsAndZeroAreRetried) {
  // 0 is never used; 7 is drawn again while taken; then 9 is free.
  SequenceRng rng({7, 0, 7, 7, 0, 9});
  IndexTable table;
  EXPECT_EQ(table.Allocate(rng, {1, Kind::kHandshake}), 7u);
  EXPECT_EQ(rng.draws(), 1u);
  EXPECT_EQ(table.Allocate(rng, {2, Kind::kHandshake}), 9u);
  EXPECT_EQ(rng.draws(), 6u);
  EXPECT_EQ(table.Find(7)->peer, 1u);
  EXPECT_EQ(table.Find(9)->peer, 2u);
}

TEST(IndexTableTest, LeadingZeroDrawIsRetried) {
  SequenceRng rng({0, 3});
  IndexTable table;
  EXPECT_EQ(table.Allocate(rng, {1, Kind::kKeypair}), 3u);
  EXPECT_EQ(table.Find(0), nullptr);
}

TEST(IndexTableTest, ReplaceChangesAnExistingIndexOnly) {
  SequenceRng rng({42});
  IndexTable table;
  const uint32_t index = table.Allocate(rng, {3, Kind::kHandshake});
  EXPECT_TRUE(table.Replace(index, {3, Kind::kKeypair}));
  EXPECT_EQ(table.Find(index)->kind, Kind::kKeypair);
  EXPECT_FALSE(table.Replace(43, {3, Kind::kKeypair}));
  EXPECT_EQ(table.Find(43), nullptr);
  EXPECT_EQ(table.size(), 1u);
}

TEST(IndexTableTest, ClearForgetsEveryIndex) {
  SequenceRng rng({1, 2});
  IndexTable table;
  table.Allocate(rng, {1, Kind::kHandshake});
  table.Allocate(rng, {1, Kind::kKeypair});
  table.Clear();
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Find(1), nullptr);
  EXPECT_EQ(table.Find(2), nullptr);
}

}  // namespace
}  // namespace zl::wg
