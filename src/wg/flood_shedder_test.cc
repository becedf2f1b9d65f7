#include "wg/flood_shedder.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>

namespace zl::wg {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint32_t kPerSecond = 50;  // the engine's defaults
constexpr uint32_t kBurst = 10;
const MonoTime kT0 = MonoTime(seconds(1000));

crypto::SipHashKey Key(uint8_t seed) {
  crypto::SipHashKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = uint8_t(seed * 31 + i);
  return key;
}

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

// The n-th /64 of 2001:db8::/32 (host part ::1).
IpAddress Slash64(uint32_t n) {
  std::array<uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
  StoreBe32(b.data() + 4, n);
  b[15] = 1;
  return IpAddress::V6(b.data());
}

TEST(FloodShedderTest, BurstThenRate) {
  FloodShedder shedder(kPerSecond, kBurst, Key(1));
  const IpAddress a = Ip("192.0.2.1");
  for (uint32_t i = 0; i < kBurst; ++i) EXPECT_TRUE(shedder.Allow(a, kT0)) << i;
  EXPECT_FALSE(shedder.Allow(a, kT0));
  // One message per 20 ms after that.
  EXPECT_FALSE(shedder.Allow(a, kT0 + milliseconds(19)));
  EXPECT_TRUE(shedder.Allow(a, kT0 + milliseconds(20)));
  EXPECT_FALSE(shedder.Allow(a, kT0 + milliseconds(20)));
  int allowed = 0;
  for (int ms = 21; ms <= 10'020; ++ms)
    allowed += shedder.Allow(a, kT0 + milliseconds(ms));
  EXPECT_EQ(allowed, 500);
  // A long pause gives back the burst, no more.
  const MonoTime later = kT0 + seconds(60);
  for (uint32_t i = 0; i < kBurst; ++i)
    EXPECT_TRUE(shedder.Allow(a, later)) << i;
  EXPECT_FALSE(shedder.Allow(a, later));
}

TEST(FloodShedderTest, SourcesAreNamedAsTheRateLimiterNamesThem) {
  FloodShedder shedder(kPerSecond, kBurst, Key(2));
  EXPECT_EQ(shedder.BucketOf(Ip("2001:db8:0:1::1")),
            shedder.BucketOf(Ip("2001:db8:0:1:ffff::9")));  // one /64
  EXPECT_EQ(shedder.BucketOf(Ip("::ffff:192.0.2.1")),
            shedder.BucketOf(Ip("192.0.2.1")));
}

// The old table refused every new source once 65,536 were tracked. Here
// nothing is tracked: a flood of a million messages a second from a million
// /64s puts ~8 a second in each bucket, far below its 50, so none is shed
// and a new source gets through at once.
TEST(FloodShedderTest, AFloodFromAMillionSourcesLeavesRoomForANewOne) {
  FloodShedder shedder(kPerSecond, kBurst, Key(3));
  size_t shed = 0;
  for (uint32_t n = 0; n < 1'000'000; ++n) {
    shed += !shedder.Allow(Slash64(n), kT0 + std::chrono::microseconds(n));
  }
  EXPECT_EQ(shed, 0u);
  const MonoTime end = kT0 + seconds(1);
  EXPECT_TRUE(shedder.Allow(Ip("198.51.100.7"), end));
  EXPECT_TRUE(shedder.Allow(Ip("2001:db8:ffff:ffff::1"), end));
}

// The bucket of a source depends on the secret key: without it, a sender
// cannot pick sources that share a victim's bucket.
TEST(FloodShedderTest, BucketsDependOnTheKey) {
  FloodShedder one(kPerSecond, kBurst, Key(4)),
      other(kPerSecond, kBurst, Key(5));
  size_t same = 0;
  for (uint32_t n = 0; n < 10'000; ++n)
    same += one.BucketOf(Slash64(n)) == other.BucketOf(Slash64(n));
  EXPECT_LT(same, 5u);  // ~10,000 / 131,072 by chance
}

// What is left to an attacker: sources that do share the victim's bucket
// (found only by chance without the key) spend its budget, for as long as
// they flood; other buckets are untouched.
TEST(FloodShedderTest, OnlySourcesSharingABucketShareItsBudget) {
  FloodShedder shedder(kPerSecond, kBurst, Key(6));
  const IpAddress victim = Ip("192.0.2.1");
  uint32_t n = 0;
  while (shedder.BucketOf(Slash64(n)) != shedder.BucketOf(victim)) ++n;
  for (uint32_t i = 0; i < kBurst; ++i)
    ASSERT_TRUE(shedder.Allow(Slash64(n), kT0));
  EXPECT_FALSE(shedder.Allow(victim, kT0));
  EXPECT_TRUE(shedder.Allow(Ip("192.0.2.2"), kT0));
  EXPECT_TRUE(shedder.Allow(victim, kT0 + milliseconds(20)));
}

}  // namespace
}  // namespace zl::wg
