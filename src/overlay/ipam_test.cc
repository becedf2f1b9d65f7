#include "overlay/ipam.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "overlay/overlay_test_util.h"

namespace zl::overlay {
namespace {

using test_values::C;

struct CountCase {
  const char* pool;
  uint8_t prefix;
  uint64_t count;
};

TEST(IpamTest, SubnetCountTable) {
  const CountCase cases[] = {
      {"10.200.0.0/16", 24, 256},      {"10.200.0.0/16", 17, 2},
      {"10.200.0.0/16", 32, 65536},    {"10.0.0.0/8", 24, 65536},
      {"0.0.0.0/0", 32, kMaxSubnets},  // exactly 2^32: no cap needed
      {"0.0.0.0/0", 24, 1 << 24},      {"192.168.1.0/24", 26, 4},
      {"192.168.1.0/30", 31, 2},       {"fd42::/48", 64, 65536},
      {"fd42::/56", 64, 256},          {"fd42::/63", 64, 2},
      {"fd42::/32", 64, kMaxSubnets},  // 2^32 exactly
      {"fd42::/16", 64, kMaxSubnets},  // 2^48, capped
      {"::/0", 128, kMaxSubnets},      // 2^128, capped
      {"fd42::/64", 128, kMaxSubnets}, {"fd42::/120", 128, 256},
  };
  for (const auto& c : cases) {
    auto n = SubnetCount(C(c.pool), c.prefix);
    ASSERT_TRUE(n.ok()) << c.pool << " /" << int(c.prefix) << ": "
                        << n.error().message();
    EXPECT_EQ(*n, c.count) << c.pool << " /" << int(c.prefix);
  }
}

struct BadPoolCase {
  const char* pool;
  uint8_t prefix;
  const char* message_part;
};

TEST(IpamTest, RejectsNonsensePoolsAndPrefixes) {
  const BadPoolCase cases[] = {
      {"10.200.0.0/16", 16, "longer than the pool's /16"},
      {"10.200.0.0/16", 8, "longer than the pool's /16"},
      {"10.200.0.0/16", 33, "at most /32"},
      {"10.200.0.0/16", 0, "longer than"},
      {"10.200.1.0/16", 24, "host bits set (did you mean 10.200.0.0/16?)"},
      {"10.200.0.1/32", 32, "longer than"},
      {"fd42::/48", 48, "longer than"},
      {"fd42::/48", 129, "at most /128"},
      {"fd42::1/48", 64, "host bits set"},
  };
  for (const auto& c : cases) {
    auto n = SubnetCount(C(c.pool), c.prefix);
    ASSERT_FALSE(n.ok()) << c.pool << " /" << int(c.prefix);
    EXPECT_EQ(n.error().code(), EINVAL);
    EXPECT_NE(n.error().message().find(c.message_part), std::string::npos)
        << n.error().message();
    EXPECT_FALSE(NthSubnet(C(c.pool), c.prefix, 0).ok());
    EXPECT_FALSE(SubnetIndex(C(c.pool), c.prefix, C(c.pool)).ok());
  }
}

struct NthCase {
  const char* pool;
  uint8_t prefix;
  uint64_t index;
  const char* subnet;
};

TEST(IpamTest, NthSubnetAndSubnetIndexTable) {
  const NthCase cases[] = {
      {"10.200.0.0/16", 24, 0, "10.200.0.0/24"},
      {"10.200.0.0/16", 24, 1, "10.200.1.0/24"},
      {"10.200.0.0/16", 24, 255, "10.200.255.0/24"},
      {"10.200.0.0/16", 26, 5, "10.200.1.64/26"},
      {"192.168.1.0/24", 26, 3, "192.168.1.192/26"},
      {"192.168.1.0/30", 31, 1, "192.168.1.2/31"},
      {"10.0.0.0/8", 32, 16777215, "10.255.255.255/32"},
      {"0.0.0.0/0", 32, 4294967295u, "255.255.255.255/32"},
      {"fd42::/48", 64, 0, "fd42::/64"},
      {"fd42::/48", 64, 3, "fd42:0:0:3::/64"},
      {"fd42::/48", 64, 65535, "fd42:0:0:ffff::/64"},
      {"fd42:1:2::/48", 56, 0x2a, "fd42:1:2:2a00::/56"},
      {"fd42::/16", 64, 0x12345678, "fd42:0:1234:5678::/64"},
      {"fd42::/16", 64, kMaxSubnets - 1, "fd42:0:ffff:ffff::/64"},
      {"::/0", 128, 0x1ff, "::1ff/128"},
      {"2001:db8::/32", 33, 1, "2001:db8:8000::/33"},
  };
  for (const auto& c : cases) {
    auto s = NthSubnet(C(c.pool), c.prefix, c.index);
    ASSERT_TRUE(s.ok()) << c.pool << " #" << c.index << ": "
                        << s.error().message();
    EXPECT_EQ(s->ToString(), c.subnet) << c.pool << " #" << c.index;
    auto i = SubnetIndex(C(c.pool), c.prefix, C(c.subnet));
    ASSERT_TRUE(i.ok()) << c.subnet << ": " << i.error().message();
    EXPECT_EQ(*i, c.index) << c.subnet;
  }
}

TEST(IpamTest, EveryIndexOfASmallPoolRoundTripsInAddressOrder) {
  for (const char* pool : {"10.9.0.0/20", "fd00:9::/52"}) {
    const Cidr p = C(pool);
    const uint8_t prefix = p.address().is_v4() ? 28 : 60;
    auto count = SubnetCount(p, prefix);
    ASSERT_TRUE(count.ok());
    ASSERT_EQ(*count, 256u);
    Cidr previous;
    for (uint64_t i = 0; i < *count; ++i) {
      auto s = NthSubnet(p, prefix, i);
      ASSERT_TRUE(s.ok());
      EXPECT_TRUE(p.Contains(s->address()));
      EXPECT_EQ(s->Masked(), *s);
      if (i > 0) {
        EXPECT_LT(previous.address(), s->address());
      }
      previous = *s;
      auto back = SubnetIndex(p, prefix, *s);
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, i);
    }
  }
}

TEST(IpamTest, NthSubnetRejectsIndexOutOfRange) {
  auto s = NthSubnet(C("192.168.1.0/24"), 26, 4);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EINVAL);
  EXPECT_NE(s.error().message().find("has 4 /26 subnets"), std::string::npos);
  EXPECT_FALSE(NthSubnet(C("fd42::/16"), 64, kMaxSubnets).ok());
}

struct BadSubnetCase {
  const char* subnet;
  const char* message_part;
};

TEST(IpamTest, SubnetIndexRejectsWhatIsNotOneOfThePoolsSubnets) {
  const Cidr pool = C("10.200.0.0/16");
  const BadSubnetCase cases[] = {
      {"10.201.0.0/24", "outside the pool"},
      {"10.200.1.0/25", "is not a /24"},
      {"10.200.1.1/24", "host bits set"},
      {"fd42::/24", "address family"},
  };
  for (const auto& c : cases) {
    auto i = SubnetIndex(pool, 24, C(c.subnet));
    ASSERT_FALSE(i.ok()) << c.subnet;
    EXPECT_EQ(i.error().code(), EINVAL);
    EXPECT_NE(i.error().message().find(c.message_part), std::string::npos)
        << i.error().message();
  }
  // Beyond the capped count.
  auto far = SubnetIndex(C("fd42::/16"), 64, C("fd42:1::/64"));
  ASSERT_FALSE(far.ok());
  EXPECT_NE(far.error().message().find("beyond the first 4294967296"),
            std::string::npos);
}

struct FreeCase {
  std::vector<uint64_t> used;
  uint64_t count;
  int64_t lowest;  // -1: ENOSPC
};

TEST(IpamTest, LowestFreeIndexTable) {
  const FreeCase cases[] = {
      {{}, 4, 0},
      {{0}, 4, 1},
      {{0, 1, 2}, 4, 3},
      {{1, 2}, 4, 0},
      {{0, 2, 3}, 4, 1},
      {{0, 1, 3}, 4, 2},
      {{0, 1, 2, 3}, 4, -1},
      {{0}, 1, -1},
      {{}, 0, -1},
      {{0, 1, 7, 100}, 1000, 2},
      {{0, 1, 2, 3, 4}, 4, -1},  // indices past the count change nothing
  };
  for (const auto& c : cases) {
    auto r = LowestFreeIndex(c.used, c.count);
    if (c.lowest < 0) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code(), ENOSPC);
      EXPECT_NE(r.error().message().find("pool is full"), std::string::npos);
    } else {
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(*r, uint64_t(c.lowest));
    }
  }
}

TEST(IpamTest, LowestFreeIndexRejectsUnsortedOrDuplicateInput) {
  for (std::vector<uint64_t> bad :
       {std::vector<uint64_t>{1, 0}, {0, 0}, {0, 1, 3, 2}}) {
    auto r = LowestFreeIndex(bad, 10);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), EINVAL);
  }
}

}  // namespace
}  // namespace zl::overlay
