#include "crypto/random.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <vector>

namespace zl::crypto {
namespace {

TEST(SystemRngTest, FillsDistinctBuffersAndLargeOnes) {
  SystemRng rng;
  std::vector<uint8_t> a(64), b(64);
  rng.Fill(a);
  rng.Fill(b);
  EXPECT_NE(a, b);
  EXPECT_FALSE(IsAllZero(a));

  // Larger than one getrandom call may return; every byte value shows up.
  std::vector<uint8_t> big(1 << 20);
  rng.Fill(big);
  std::array<bool, 256> seen{};
  for (uint8_t x : big) seen[x] = true;
  for (int v = 0; v < 256; ++v) EXPECT_TRUE(seen[v]) << v;
  rng.Fill({});  // an empty fill is a no-op
}

TEST(DeterministicRngTest, SameSeedSameStreamOtherSeedOtherStream) {
  DeterministicRng a(42), b(42), c(43);
  std::vector<uint8_t> x(300), y(300), z(300);
  a.Fill(x);
  b.Fill(y);
  c.Fill(z);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

TEST(DeterministicRngTest, ChunkingDoesNotChangeTheStream) {
  DeterministicRng whole(9), pieces(9);
  std::vector<uint8_t> expected(200), got(200);
  whole.Fill(expected);
  size_t off = 0;
  for (size_t n : {1, 63, 0, 64, 65, 7}) {
    pieces.Fill(MutableByteSpan(got.data() + off, n));
    off += n;
  }
  EXPECT_EQ(got, expected);
}

TEST(RngTest, NextU32AndNextU64ReadTheStreamLittleEndian) {
  DeterministicRng a(5), b(5);
  uint8_t bytes[12];
  b.Fill(bytes);
  EXPECT_EQ(a.NextU32(), LoadLe32(bytes));
  EXPECT_EQ(a.NextU64(), LoadLe64(bytes + 4));
}

TEST(RngTest, UniformStaysBelowTheBoundAndCoversIt) {
  DeterministicRng rng(6);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rng.Uniform(1), 0u);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = rng.Uniform(6);
    ASSERT_LT(v, 6u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 6u);
  // A bound just over 2^63 rejects almost half the draws; it must still end.
  const uint64_t big = (uint64_t{1} << 63) + 1;
  for (int i = 0; i < 100; ++i) EXPECT_LT(rng.Uniform(big), big);
}

}  // namespace
}  // namespace zl::crypto
