#include "wg/replay.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace zl::wg {
namespace {

constexpr uint64_t kWindow = ReplayFilter::kWindowSize;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
// REJECT_AFTER_MESSAGES of the whitepaper (§6.1), 2^64 - 2^13 - 1, which the
// engine passes; and the kernel's, 2^64 - 1 - window - 1, which its table
// was written against.
constexpr uint64_t kWhitepaperLimit = kMax - (uint64_t{1} << 13);
constexpr uint64_t kKernelLimit = kMax - kWindow - 1;

TEST(ReplayFilterTest, WindowIsAtLeastTheKernels) {
  EXPECT_GE(kWindow, 8192u - 64u);
}

struct Check {
  uint64_t counter;
  bool accepted;
};

// The Linux kernel's counter selftest (drivers/net/wireguard/selftest/
// counter.c), case for case; `lim` is the window plus one and `reject` the
// limit, as there.
std::vector<Check> KernelTable(uint64_t reject) {
  const uint64_t lim = kWindow + 1;
  return {
      /*  1 */ {0, true},
      /*  2 */ {1, true},
      /*  3 */ {1, false},
      /*  4 */ {9, true},
      /*  5 */ {8, true},
      /*  6 */ {7, true},
      /*  7 */ {7, false},
      /*  8 */ {lim, true},
      /*  9 */ {lim - 1, true},
      /* 10 */ {lim - 1, false},
      /* 11 */ {lim - 2, true},
      /* 12 */ {2, true},
      /* 13 */ {2, false},
      /* 14 */ {lim + 16, true},
      /* 15 */ {3, false},
      /* 16 */ {lim + 16, false},
      /* 17 */ {lim * 4, true},
      /* 18 */ {lim * 4 - (lim - 1), true},
      /* 19 */ {10, false},
      /* 20 */ {lim * 4 - lim, false},
      /* 21 */ {lim * 4 - (lim + 1), false},
      /* 22 */ {lim * 4 - (lim - 2), true},
      /* 23 */ {lim * 4 + 1 - lim, false},
      /* 24 */ {0, false},
      /* 25 */ {reject, false},
      /* 26 */ {reject - 1, true},
      /* 27 */ {reject, false},
      /* 28 */ {reject - 1, false},
      /* 29 */ {reject - 2, true},
      /* 30 */ {reject + 1, false},
      /* 31 */ {reject + 2, false},
      /* 32 */ {reject - 2, false},
      /* 33 */ {reject - 3, true},
      /* 34 */ {0, false},
  };
}

// Runs `body` on a fresh filter once per limit; `expect(counter, accepted,
// label)` checks one Accept, and that MayAccept foretold it.
template <typename Body>
void ForEachLimit(Body body) {
  for (const uint64_t limit : {kWhitepaperLimit, kKernelLimit}) {
    SCOPED_TRACE(limit == kWhitepaperLimit ? "whitepaper limit"
                                           : "kernel limit");
    ReplayFilter filter;
    body(limit, [&](uint64_t counter, bool accepted, const char* label) {
      EXPECT_EQ(filter.MayAccept(counter, limit), accepted)
          << label << ": counter " << counter << " (pre-check)";
      EXPECT_EQ(filter.Accept(counter, limit), accepted)
          << label << ": counter " << counter;
    });
  }
}

TEST(ReplayFilterTest, KernelSelftestSequence) {
  ForEachLimit([](uint64_t limit, auto expect) {
    const std::vector<Check> table = KernelTable(limit);
    ASSERT_EQ(table.size(), 34u);
    for (size_t i = 0; i < table.size(); ++i) {
      const std::string label = "check " + std::to_string(i + 1);
      expect(table[i].counter, table[i].accepted, label.c_str());
    }
  });
}

TEST(ReplayFilterTest, AscendingFullWindowStillAcceptsZeroOnce) {
  ForEachLimit([](uint64_t, auto expect) {
    for (uint64_t i = 1; i <= kWindow; ++i) expect(i, true, "ascending");
    expect(0, true, "zero");
    expect(0, false, "zero again");
  });
}

TEST(ReplayFilterTest, AscendingFromTwoAcceptsOneButNotZero) {
  ForEachLimit([](uint64_t, auto expect) {
    for (uint64_t i = 2; i <= kWindow + 1; ++i) expect(i, true, "ascending");
    expect(1, true, "one");
    expect(0, false, "zero");
  });
}

TEST(ReplayFilterTest, DescendingWholeWindowIsAccepted) {
  ForEachLimit([](uint64_t, auto expect) {
    for (uint64_t i = kWindow + 1; i-- > 0;) expect(i, true, "descending");
  });
}

TEST(ReplayFilterTest, DescendingFromWindowPlusOneLeavesZeroTooOld) {
  ForEachLimit([](uint64_t, auto expect) {
    for (uint64_t i = kWindow + 2; i-- > 1;) expect(i, true, "descending");
    expect(0, false, "zero");
  });
}

TEST(ReplayFilterTest, DescendingThenNewTopPushesZeroOut) {
  ForEachLimit([](uint64_t, auto expect) {
    for (uint64_t i = kWindow + 1; i-- > 1;) expect(i, true, "descending");
    expect(kWindow + 1, true, "top");
    expect(0, false, "zero");
  });
}

TEST(ReplayFilterTest, DescendingThenZeroThenNewTop) {
  ForEachLimit([](uint64_t, auto expect) {
    for (uint64_t i = kWindow + 1; i-- > 1;) expect(i, true, "descending");
    expect(0, true, "zero");
    expect(kWindow + 1, true, "top");
  });
}

TEST(ReplayFilterTest, CounterAtOrAboveLimitIsRejectedWithoutChangingState) {
  ReplayFilter f;
  EXPECT_FALSE(f.Accept(100, 100));
  EXPECT_FALSE(f.Accept(101, 100));
  EXPECT_FALSE(f.Accept(kMax, 100));
  // None of the rejected counters was recorded or moved the window.
  EXPECT_TRUE(f.Accept(0, 100));
  EXPECT_TRUE(f.Accept(99, 100));
  EXPECT_FALSE(f.Accept(99, 100));
  EXPECT_TRUE(f.Accept(100, 101));
  EXPECT_FALSE(f.Accept(0, 0));
}

TEST(ReplayFilterTest, CountersNearTwoToTheSixtyFourDoNotWrap) {
  ReplayFilter f;
  EXPECT_TRUE(f.Accept(kMax - 1, kMax));
  EXPECT_FALSE(f.Accept(kMax - 1, kMax));
  EXPECT_FALSE(f.Accept(kMax, kMax));
  EXPECT_FALSE(f.Accept(0, kMax));
  EXPECT_FALSE(f.Accept(kMax - 1 - kWindow - 1, kMax));
  EXPECT_TRUE(f.Accept(kMax - 1 - kWindow, kMax));
  EXPECT_TRUE(f.Accept(kMax - 2, kMax));
}

TEST(ReplayFilterTest, JumpFarAheadForgetsTheOldWindow) {
  ReplayFilter f;
  for (uint64_t i = 0; i < 1000; ++i)
    ASSERT_TRUE(f.Accept(i, kWhitepaperLimit));
  const uint64_t far = uint64_t{1} << 40;
  EXPECT_TRUE(f.Accept(far, kWhitepaperLimit));
  EXPECT_FALSE(f.Accept(999, kWhitepaperLimit));
  // Every counter in the new window is unseen, including ones whose ring
  // slots held bits from the old window.
  for (uint64_t i = far - kWindow; i < far; ++i) {
    ASSERT_TRUE(f.Accept(i, kWhitepaperLimit)) << i;
  }
}

TEST(ReplayFilterTest, ResetForgetsEverything) {
  ReplayFilter f;
  EXPECT_TRUE(f.Accept(5, kWhitepaperLimit));
  EXPECT_TRUE(f.Accept(100'000, kWhitepaperLimit));
  f.Reset();
  EXPECT_TRUE(f.Accept(5, kWhitepaperLimit));
  EXPECT_TRUE(f.Accept(0, kWhitepaperLimit));
  EXPECT_TRUE(f.Accept(100'000, kWhitepaperLimit));
}

// Random reordering, duplicates and jumps against the definition: accepted
// iff below the limit, unseen, and at most the window behind the highest
// counter accepted so far.
TEST(ReplayFilterTest, MatchesSetBasedReferenceOnRandomTraffic) {
  constexpr uint64_t kSeed = 0x7e91a4;
  std::mt19937_64 rng(kSeed);
  ReplayFilter f;
  std::unordered_set<uint64_t> seen;
  uint64_t highest = 0;
  bool any = false;
  uint64_t next = 0;
  for (int step = 0; step < 300'000; ++step) {
    uint64_t counter;
    const unsigned op = unsigned(rng() % 100);
    if (op < 60) {
      counter = next++;  // in order
    } else if (op < 90) {
      // Reordered or replayed, around the window edge.
      const uint64_t back = rng() % (kWindow + 200);
      counter = next > back ? next - back : 0;
    } else if (op < 99) {
      counter = next + rng() % 3 * kWindow;  // a jump ahead
      next = counter + 1;
    } else {
      counter = next + rng() % 100;  // beyond a small limit
    }
    const uint64_t limit = op < 99 ? kWhitepaperLimit : next + 50;
    const bool expected =
        counter < limit && !seen.contains(counter) &&
        (!any || counter >= highest || highest - counter <= kWindow);
    ASSERT_EQ(f.MayAccept(counter, limit), expected)
        << "pre-check, seed " << kSeed << " step " << step;
    ASSERT_EQ(f.Accept(counter, limit), expected)
        << "seed " << kSeed << " step " << step << " counter " << counter;
    if (expected) {
      seen.insert(counter);
      if (!any || counter > highest) highest = counter;
      any = true;
    }
  }
}

}  // namespace
}  // namespace zl::wg
