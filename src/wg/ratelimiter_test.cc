#include "wg/ratelimiter.h"

#include <gtest/gtest.h>

#include <chrono>

namespace zl::wg {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

IpAddress V4(uint32_t n) { return IpAddress::V4(0x0a000000u + n); }

constexpr uint32_t kPerSecond = 20;  // the kernel's INITIATIONS_PER_SECOND
constexpr uint32_t kBurst = 5;       // the kernel's INITIATIONS_BURSTABLE
const MonoTime kT0 = MonoTime(seconds(1000));

TEST(RateLimiterTest, BurstThenRefusal) {
  RateLimiter limiter(kPerSecond, kBurst);
  const IpAddress a = Ip("192.0.2.1");
  for (uint32_t i = 0; i < kBurst; ++i) EXPECT_TRUE(limiter.Allow(a, kT0)) << i;
  EXPECT_FALSE(limiter.Allow(a, kT0));
  EXPECT_FALSE(limiter.Allow(a, kT0));
}

TEST(RateLimiterTest, RefillsOverTime) {
  RateLimiter limiter(kPerSecond, kBurst);
  const IpAddress a = Ip("192.0.2.1");
  for (uint32_t i = 0; i < kBurst; ++i) ASSERT_TRUE(limiter.Allow(a, kT0));
  ASSERT_FALSE(limiter.Allow(a, kT0));
  // One token per 50 ms.
  EXPECT_FALSE(limiter.Allow(a, kT0 + milliseconds(49)));
  EXPECT_TRUE(limiter.Allow(a, kT0 + milliseconds(50)));
  EXPECT_FALSE(limiter.Allow(a, kT0 + milliseconds(50)));
  // Sustained: exactly per_second over a long run.
  int allowed = 0;
  for (int ms = 51; ms <= 10050; ++ms)
    allowed += limiter.Allow(a, kT0 + milliseconds(ms));
  EXPECT_EQ(allowed, 200);
  // A long pause refills only up to the burst.
  const MonoTime later = kT0 + seconds(60);
  for (uint32_t i = 0; i < kBurst; ++i)
    EXPECT_TRUE(limiter.Allow(a, later)) << i;
  EXPECT_FALSE(limiter.Allow(a, later));
}

TEST(RateLimiterTest, SourcesAreIndependent) {
  RateLimiter limiter(kPerSecond, kBurst);
  const IpAddress a = Ip("192.0.2.1"), b = Ip("192.0.2.2"),
                  c = Ip("2001:db8:1::1"), d = Ip("2001:db8:2::1");
  for (uint32_t i = 0; i < kBurst; ++i) ASSERT_TRUE(limiter.Allow(a, kT0));
  EXPECT_FALSE(limiter.Allow(a, kT0));
  EXPECT_TRUE(limiter.Allow(b, kT0));
  for (uint32_t i = 0; i < kBurst; ++i) ASSERT_TRUE(limiter.Allow(c, kT0));
  EXPECT_FALSE(limiter.Allow(c, kT0));
  EXPECT_TRUE(limiter.Allow(d, kT0));  // another /64
  EXPECT_EQ(limiter.size(), 4u);
}

TEST(RateLimiterTest, Ipv6SameSlash64SharesABucket) {
  RateLimiter limiter(kPerSecond, kBurst);
  for (uint32_t i = 0; i < kBurst; ++i) {
    const std::string host = "2001:db8:0:1::" + std::to_string(i + 1);
    ASSERT_TRUE(limiter.Allow(Ip(host.c_str()), kT0)) << host;
  }
  EXPECT_FALSE(limiter.Allow(Ip("2001:db8:0:1:ffff:ffff:ffff:ffff"), kT0));
  EXPECT_TRUE(limiter.Allow(Ip("2001:db8:0:2::1"), kT0));
  EXPECT_EQ(limiter.size(), 2u);
}

TEST(RateLimiterTest, Ipv4MappedIpv6CountsAsIpv4) {
  RateLimiter limiter(kPerSecond, 1);
  EXPECT_TRUE(limiter.Allow(Ip("::ffff:192.0.2.1"), kT0));
  EXPECT_FALSE(limiter.Allow(Ip("192.0.2.1"), kT0));
  EXPECT_TRUE(limiter.Allow(Ip("::ffff:192.0.2.2"),
                            kT0));  // not one shared ::/64 bucket
}

TEST(RateLimiterTest, TableIsBounded) {
  constexpr size_t kMax = 1000;
  RateLimiter limiter(kPerSecond, kBurst, kMax);
  size_t allowed = 0;
  for (uint32_t i = 0; i < 3 * kMax; ++i) allowed += limiter.Allow(V4(i), kT0);
  EXPECT_EQ(allowed, kMax);
  EXPECT_EQ(limiter.size(), kMax);
  // Known sources keep their buckets; new ones are refused.
  EXPECT_TRUE(limiter.Allow(V4(0), kT0));
  EXPECT_FALSE(limiter.Allow(V4(5000), kT0));
  EXPECT_EQ(limiter.size(), kMax);
}

TEST(RateLimiterTest, IdleEntriesAreCollected) {
  constexpr size_t kSources = 500;
  RateLimiter limiter(kPerSecond, kBurst);
  for (uint32_t i = 0; i < kSources; ++i)
    ASSERT_TRUE(limiter.Allow(V4(i), kT0));
  ASSERT_EQ(limiter.size(), kSources);
  // Within a second nothing is stale.
  const IpAddress busy = Ip("198.51.100.1");
  for (int i = 0; i < 200; ++i) limiter.Allow(busy, kT0 + milliseconds(900));
  EXPECT_EQ(limiter.size(), kSources + 1);
  // Later, ordinary calls from one source sweep the idle ones away, a few
  // per call.
  MonoTime t = kT0 + seconds(3);
  for (size_t i = 0; i < kSources; ++i) {
    t += milliseconds(50);
    EXPECT_TRUE(limiter.Allow(busy, t));
  }
  EXPECT_EQ(limiter.size(), 1u);
}

TEST(RateLimiterTest, FullTableFreesIdleEntriesForNewSources) {
  constexpr size_t kMax = 50;
  RateLimiter limiter(kPerSecond, kBurst, kMax);
  for (uint32_t i = 0; i < kMax; ++i) ASSERT_TRUE(limiter.Allow(V4(i), kT0));
  EXPECT_FALSE(limiter.Allow(V4(1000), kT0 + milliseconds(500)));
  // Once the old entries are idle, a new source gets in at once.
  EXPECT_TRUE(limiter.Allow(V4(1001), kT0 + seconds(2)));
  EXPECT_LE(limiter.size(), kMax);
}

TEST(RateLimiterTest, EntryWithTokensSpentIsNotCollectedUntilFull) {
  // 1 per second, burst 10: after 2 s idle the bucket is not yet full again.
  RateLimiter limiter(1, 10);
  const IpAddress a = Ip("192.0.2.1"), b = Ip("192.0.2.2");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.Allow(a, kT0));
  ASSERT_FALSE(limiter.Allow(a, kT0));
  for (int i = 0; i < 10; ++i) limiter.Allow(b, kT0 + seconds(2));
  EXPECT_EQ(limiter.size(), 2u);
  // If it had been forgotten, `a` would get a full burst back.
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.Allow(a, kT0 + seconds(2));
  EXPECT_EQ(allowed, 2);
}

}  // namespace
}  // namespace zl::wg
