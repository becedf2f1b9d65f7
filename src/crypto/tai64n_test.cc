#include "crypto/tai64n.h"

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace zl::crypto {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

// 2026-01-01T00:00:00Z, FakeClock's starting wall time.
const WallTime kNewYear2026{seconds(1767225600)};

std::string Hex(const Tai64n& t) { return HexEncode(t); }

TEST(Tai64nTest, EncodesTwoToTheSixtyTwoPlusUnixSecondsBigEndian) {
  // 2^62 + 1767225600 = 0x400000006955b900; zero nanoseconds.
  EXPECT_EQ(Hex(MakeTai64n(kNewYear2026)),
            "400000006955b900"
            "00000000");
  EXPECT_EQ(Hex(MakeTai64n(WallTime{})),
            "4000000000000000"
            "00000000");
}

TEST(Tai64nTest, RoundsNanosecondsDownToMultiplesOfTwoToTheTwentyFour) {
  // 123456789 ns = 0x075bcd15 -> 0x07000000.
  EXPECT_EQ(Hex(MakeTai64n(kNewYear2026 + nanoseconds(123456789))),
            "400000006955b900"
            "07000000");
  EXPECT_EQ(Hex(MakeTai64n(kNewYear2026 + nanoseconds((1 << 24) - 1))),
            "400000006955b900"
            "00000000");
  EXPECT_EQ(Hex(MakeTai64n(kNewYear2026 + nanoseconds(1 << 24))),
            "400000006955b900"
            "01000000");
  // 999999999 ns = 0x3b9ac9ff -> 0x3b000000, still within the same second.
  EXPECT_EQ(Hex(MakeTai64n(kNewYear2026 + nanoseconds(999999999))),
            "400000006955b900"
            "3b000000");
}

TEST(Tai64nTest, TimesBefore1970UseTheSecondBelow) {
  // -0.5 s is second -1 plus 500000000 ns (0x1dcd6500 -> 0x1d000000).
  EXPECT_EQ(Hex(MakeTai64n(WallTime{} - nanoseconds(500000000))),
            "3fffffffffffffff"
            "1d000000");
}

TEST(Tai64nTest, AfterIsChronologicalOrder) {
  const Tai64n t0 = MakeTai64n(kNewYear2026);
  const Tai64n t1 = MakeTai64n(kNewYear2026 + nanoseconds(20'000'000));
  const Tai64n t2 = MakeTai64n(kNewYear2026 + seconds(1));
  // Next second with fewer nanoseconds than t1 is still later.
  EXPECT_TRUE(Tai64nAfter(t1, t0));
  EXPECT_TRUE(Tai64nAfter(t2, t1));
  EXPECT_FALSE(Tai64nAfter(t0, t1));
  EXPECT_FALSE(Tai64nAfter(t0, t0));  // a replayed timestamp is not newer
  // Across a byte carry of the seconds field (…ff -> …100).
  const WallTime carry{seconds(0x6955b9ff)};
  EXPECT_TRUE(Tai64nAfter(MakeTai64n(carry + seconds(1)),
                          MakeTai64n(carry + nanoseconds(999'000'000))));
}

TEST(Tai64nTest, TimesWithinOneRoundingStepAreEqual) {
  // The whitening makes initiations sent < 16.8 ms apart carry the same
  // timestamp, so the second is not "after" the first (as in wireguard-go).
  const Tai64n a = MakeTai64n(kNewYear2026 + nanoseconds(1'000));
  const Tai64n b = MakeTai64n(kNewYear2026 + nanoseconds(16'000'000));
  EXPECT_EQ(a, b);
  EXPECT_FALSE(Tai64nAfter(b, a));
}

}  // namespace
}  // namespace zl::crypto
