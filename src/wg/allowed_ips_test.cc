#include "wg/allowed_ips.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "base/ip.h"
#include "wg/allowed_ips_naive.h"

namespace zl::wg {
namespace {

Cidr P(const char* text) {
  auto r = Cidr::Parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Cidr();
}

IpAddress A(const char* text) {
  auto r = IpAddress::Parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : IpAddress();
}

std::vector<Cidr> PrefixesOf(const AllowedIps& table, PeerId peer) {
  std::vector<Cidr> out;
  table.ForEach(peer, [&out](const Cidr& c) { out.push_back(c); });
  std::sort(out.begin(), out.end());
  return out;
}

TEST(AllowedIpsTest, EmptyTableMatchesNothing) {
  AllowedIps t;
  EXPECT_EQ(t.Lookup(A("10.0.0.1")), kNoPeer);
  EXPECT_EQ(t.Lookup(A("::1")), kNoPeer);
  EXPECT_EQ(t.size(), 0u);
}

TEST(AllowedIpsTest, LongestPrefixWins) {
  AllowedIps t;
  t.Insert(P("10.0.0.0/8"), 1);
  t.Insert(P("10.1.0.0/16"), 2);
  t.Insert(P("10.1.2.0/24"), 3);
  t.Insert(P("10.1.2.3/32"), 4);
  EXPECT_EQ(t.Lookup(A("10.9.9.9")), 1u);
  EXPECT_EQ(t.Lookup(A("10.1.9.9")), 2u);
  EXPECT_EQ(t.Lookup(A("10.1.2.9")), 3u);
  EXPECT_EQ(t.Lookup(A("10.1.2.3")), 4u);
  EXPECT_EQ(t.Lookup(A("11.1.2.3")), kNoPeer);

  t.Insert(P("2001:db8::/32"), 5);
  t.Insert(P("2001:db8:1::/48"), 6);
  t.Insert(P("2001:db8:1::1/128"), 7);
  EXPECT_EQ(t.Lookup(A("2001:db8:2::1")), 5u);
  EXPECT_EQ(t.Lookup(A("2001:db8:1::2")), 6u);
  EXPECT_EQ(t.Lookup(A("2001:db8:1::1")), 7u);
  EXPECT_EQ(t.Lookup(A("2001:db9::1")), kNoPeer);
}

TEST(AllowedIpsTest, InsertionOrderDoesNotMatter) {
  AllowedIps t;
  t.Insert(P("10.1.2.3/32"), 4);
  t.Insert(P("10.1.2.0/24"), 3);
  t.Insert(P("10.0.0.0/8"), 1);
  t.Insert(P("10.1.0.0/16"), 2);
  EXPECT_EQ(t.Lookup(A("10.9.9.9")), 1u);
  EXPECT_EQ(t.Lookup(A("10.1.9.9")), 2u);
  EXPECT_EQ(t.Lookup(A("10.1.2.9")), 3u);
  EXPECT_EQ(t.Lookup(A("10.1.2.3")), 4u);
  EXPECT_TRUE(t.CheckInvariantsForTesting());
}

TEST(AllowedIpsTest, DefaultRouteMatchesEveryAddressOfItsFamily) {
  AllowedIps t;
  t.Insert(P("0.0.0.0/0"), 1);
  t.Insert(P("192.168.0.0/16"), 2);
  EXPECT_EQ(t.Lookup(A("0.0.0.0")), 1u);
  EXPECT_EQ(t.Lookup(A("255.255.255.255")), 1u);
  EXPECT_EQ(t.Lookup(A("192.168.1.1")), 2u);
  EXPECT_EQ(t.Lookup(A("::")), kNoPeer);

  t.Insert(P("::/0"), 3);
  EXPECT_EQ(t.Lookup(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 3u);
  EXPECT_EQ(t.Lookup(A("::")), 3u);
  EXPECT_EQ(t.Lookup(A("8.8.8.8")), 1u);
}

TEST(AllowedIpsTest, FamiliesAreSeparate) {
  AllowedIps t;
  t.Insert(P("10.0.0.0/8"), 1);
  // The same leading bytes as an IPv6 prefix, and the IPv4-mapped form.
  t.Insert(P("a00::/8"), 2);
  EXPECT_EQ(t.Lookup(A("10.0.0.1")), 1u);
  EXPECT_EQ(t.Lookup(A("a00::1")), 2u);
  EXPECT_EQ(t.Lookup(A("::ffff:10.0.0.1")), kNoPeer);
  uint8_t v4[4] = {10, 0, 0, 1};
  EXPECT_EQ(t.Lookup(IpAddress::Family::kV4, v4), 1u);
  t.RemoveByPeer(1);
  EXPECT_EQ(t.Lookup(A("10.0.0.1")), kNoPeer);
  EXPECT_EQ(t.Lookup(A("a00::1")), 2u);
}

TEST(AllowedIpsTest, HostRoutesMatchOnlyTheirAddress) {
  AllowedIps t;
  t.Insert(P("192.0.2.1/32"), 1);
  t.Insert(P("2001:db8::ffff/128"), 2);
  t.Insert(P("2001:db8::fffe/128"), 3);
  EXPECT_EQ(t.Lookup(A("192.0.2.1")), 1u);
  EXPECT_EQ(t.Lookup(A("192.0.2.0")), kNoPeer);
  EXPECT_EQ(t.Lookup(A("2001:db8::ffff")), 2u);
  EXPECT_EQ(t.Lookup(A("2001:db8::fffe")), 3u);
  EXPECT_EQ(t.Lookup(A("2001:db8::fffd")), kNoPeer);
}

TEST(AllowedIpsTest, InsertingSamePrefixForAnotherPeerMovesIt) {
  AllowedIps t;
  t.Insert(P("10.0.0.0/24"), 1);
  t.Insert(P("10.0.0.0/24"), 2);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Lookup(A("10.0.0.7")), 2u);
  EXPECT_TRUE(PrefixesOf(t, 1).empty());
  EXPECT_EQ(PrefixesOf(t, 2), std::vector<Cidr>{P("10.0.0.0/24")});
  EXPECT_TRUE(t.CheckInvariantsForTesting());
}

TEST(AllowedIpsTest, HostBitsAreMasked) {
  AllowedIps t;
  t.Insert(P("10.0.0.1/8"), 1);
  EXPECT_EQ(PrefixesOf(t, 1), std::vector<Cidr>{P("10.0.0.0/8")});
  EXPECT_EQ(t.Lookup(A("10.200.0.1")), 1u);
  // 10.0.0.0/8 is the same prefix: it moves, it does not add.
  t.Insert(P("10.0.0.0/8"), 2);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Lookup(A("10.200.0.1")), 2u);
  EXPECT_TRUE(t.Remove(P("10.9.9.9/8"), 2));
  EXPECT_EQ(t.size(), 0u);

  t.Insert(P("2001:db8::1/32"), 3);
  EXPECT_EQ(PrefixesOf(t, 3), std::vector<Cidr>{P("2001:db8::/32")});
}

TEST(AllowedIpsTest, RemoveOnlyTakesPrefixFromItsOwner) {
  AllowedIps t;
  t.Insert(P("10.0.0.0/8"), 1);
  EXPECT_FALSE(t.Remove(P("10.0.0.0/8"), 2));
  EXPECT_FALSE(t.Remove(P("10.0.0.0/16"), 1));
  EXPECT_EQ(t.Lookup(A("10.0.0.1")), 1u);
  EXPECT_TRUE(t.Remove(P("10.0.0.0/8"), 1));
  EXPECT_FALSE(t.Remove(P("10.0.0.0/8"), 1));
  EXPECT_EQ(t.Lookup(A("10.0.0.1")), kNoPeer);
}

TEST(AllowedIpsTest, RemoveByPeerLeavesOtherPeers) {
  AllowedIps t;
  t.Insert(P("10.0.0.0/8"), 1);
  t.Insert(P("10.1.0.0/16"), 2);
  t.Insert(P("10.1.1.0/24"), 1);
  t.Insert(P("fd00::/8"), 1);
  t.Insert(P("fd00:1::/32"), 2);
  t.RemoveByPeer(1);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.Lookup(A("10.1.1.1")), 2u);
  EXPECT_EQ(t.Lookup(A("10.2.0.1")), kNoPeer);
  EXPECT_EQ(t.Lookup(A("fd00:1::1")), 2u);
  EXPECT_EQ(t.Lookup(A("fd00:2::1")), kNoPeer);
  EXPECT_TRUE(PrefixesOf(t, 1).empty());
  EXPECT_EQ(PrefixesOf(t, 2),
            (std::vector<Cidr>{P("10.1.0.0/16"), P("fd00:1::/32")}));
  EXPECT_TRUE(t.CheckInvariantsForTesting());
}

TEST(AllowedIpsTest, ForEachListsExactlyWhatWasInserted) {
  AllowedIps t;
  const std::vector<Cidr> mine = {
      P("0.0.0.0/0"), P("10.0.0.0/8"), P("10.0.0.0/9"),     P("192.0.2.7/32"),
      P("::/0"),      P("fd00::/8"),   P("2001:db8::1/128")};
  for (const Cidr& c : mine) t.Insert(c, 7);
  t.Insert(P("10.128.0.0/9"), 8);
  std::vector<Cidr> expected = mine;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(PrefixesOf(t, 7), expected);
  EXPECT_EQ(PrefixesOf(t, 8), std::vector<Cidr>{P("10.128.0.0/9")});
  EXPECT_TRUE(PrefixesOf(t, 9).empty());
  EXPECT_EQ(t.size(), mine.size() + 1);
}

TEST(AllowedIpsTest, RemovalRecompressesTheTrie) {
  AllowedIps t;
  // 10.0.0.0/24 and 10.0.1.0/24 need a branch point at 10.0.0.0/23.
  t.Insert(P("10.0.0.0/24"), 1);
  t.Insert(P("10.0.1.0/24"), 2);
  t.Insert(P("10.0.0.128/25"), 3);
  ASSERT_TRUE(t.CheckInvariantsForTesting());
  EXPECT_TRUE(t.Remove(P("10.0.0.0/24"), 1));
  EXPECT_TRUE(t.CheckInvariantsForTesting());
  EXPECT_EQ(t.Lookup(A("10.0.0.1")), kNoPeer);
  EXPECT_EQ(t.Lookup(A("10.0.0.129")), 3u);
  EXPECT_TRUE(t.Remove(P("10.0.1.0/24"), 2));
  EXPECT_TRUE(t.CheckInvariantsForTesting());
  EXPECT_EQ(t.Lookup(A("10.0.0.129")), 3u);
  EXPECT_TRUE(t.Remove(P("10.0.0.128/25"), 3));
  EXPECT_TRUE(t.CheckInvariantsForTesting());
  EXPECT_EQ(t.size(), 0u);
}

TEST(AllowedIpsTest, ClearEmptiesBothFamilies) {
  AllowedIps t;
  t.Insert(P("0.0.0.0/0"), 1);
  t.Insert(P("::/0"), 2);
  t.Clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Lookup(A("1.2.3.4")), kNoPeer);
  EXPECT_EQ(t.Lookup(A("::1")), kNoPeer);
  EXPECT_TRUE(PrefixesOf(t, 1).empty());
  t.Insert(P("1.0.0.0/8"), 1);
  EXPECT_EQ(t.Lookup(A("1.2.3.4")), 1u);
}

// Randomized comparison against NaiveAllowedIps.
class AllowedIpsRandomTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSeed = 0x5eeda1107ed15;
  static constexpr int kSteps = 200'000;
  static constexpr int kRoundSteps = 4096;  // the tables are cleared after each
  static constexpr PeerId kPeers = 32;

  bool v6() const { return family_ == IpAddress::Family::kV6; }
  size_t addr_size() const { return v6() ? 16 : 4; }
  unsigned max_bits() const { return v6() ? 128 : 32; }

  IpAddress MakeAddress(const uint8_t* bytes) const {
    return v6() ? IpAddress::V6(bytes) : IpAddress::V4(bytes);
  }

  // The first `keep` bits of `base`, random bits after.
  void KeepBits(const uint8_t* base, unsigned keep, uint8_t* out) {
    for (size_t i = 0; i < addr_size(); ++i) {
      const uint8_t random = uint8_t(rng_());
      const int kept = std::clamp(int(keep) - int(i * 8), 0, 8);
      const uint8_t mask = uint8_t(0xff00 >> kept);
      out[i] = uint8_t((base[i] & mask) | (random & ~mask));
    }
  }

  // A random prefix with random host bits; half of the time it extends a
  // prefix already in the table, so prefixes nest deeply.
  Cidr RandomPrefix() {
    uint8_t bytes[16] = {};
    unsigned len;
    if (!naive_.entries().empty() && rng_() % 2 == 0) {
      const Cidr& base = RandomEntry().first;
      len = base.prefix_len() +
            unsigned(rng_() % (max_bits() - base.prefix_len() + 1));
      KeepBits(base.address().bytes().data(), base.prefix_len(), bytes);
    } else {
      len = unsigned(rng_() % (max_bits() + 1));
      KeepBits(bytes, 0, bytes);
    }
    return Cidr(MakeAddress(bytes), uint8_t(len));
  }

  // Mostly an address inside a prefix of the table, so matches happen.
  void RandomAddress(uint8_t* out) {
    if (!naive_.entries().empty() && rng_() % 4 != 0) {
      const Cidr& base = RandomEntry().first;
      KeepBits(base.address().bytes().data(), base.prefix_len(), out);
    } else {
      KeepBits(out, 0, out);
    }
  }

  const NaiveAllowedIps::Entry& RandomEntry() {
    return naive_.entries()[rng_() % naive_.entries().size()];
  }

  PeerId RandomPeer() { return PeerId(1 + rng_() % kPeers); }

  void ExpectSameLookup(int step) {
    uint8_t addr[16] = {};
    RandomAddress(addr);
    ASSERT_EQ(trie_.Lookup(family_, addr), naive_.Lookup(family_, addr))
        << "seed " << kSeed << " step " << step << " address "
        << MakeAddress(addr).ToString();
  }

  void ExpectSameContents(int step) {
    ASSERT_EQ(trie_.size(), naive_.size()) << "step " << step;
    ASSERT_TRUE(trie_.CheckInvariantsForTesting()) << "step " << step;
    for (PeerId peer = 1; peer <= kPeers; ++peer) {
      ASSERT_EQ(PrefixesOf(trie_, peer), naive_.PrefixesOf(peer))
          << "step " << step << " peer " << peer;
    }
  }

  void MatchesNaiveReference();
  void LargeTableMatchesNaiveReferenceAndEmpties();

  IpAddress::Family family_ = IpAddress::Family::kV4;
  std::mt19937_64 rng_{kSeed};
  AllowedIps trie_;
  NaiveAllowedIps naive_;
};

void AllowedIpsRandomTest::MatchesNaiveReference() {
  int inserts = 0, lookups = 0;
  for (int step = 0; step < kSteps; ++step) {
    const unsigned op = unsigned(rng_() % 100);
    if (op < 50) {
      const Cidr prefix = RandomPrefix();
      const PeerId peer = RandomPeer();
      trie_.Insert(prefix, peer);
      naive_.Insert(prefix, peer);
      ++inserts;
    } else if (op < 62 && naive_.size() > 0) {
      const NaiveAllowedIps::Entry e = RandomEntry();
      // Sometimes with host bits set: Remove masks them too.
      uint8_t bytes[16];
      KeepBits(e.first.address().bytes().data(), e.first.prefix_len(), bytes);
      const Cidr prefix(MakeAddress(bytes), e.first.prefix_len());
      ASSERT_TRUE(trie_.Remove(prefix, e.second)) << "step " << step;
      ASSERT_TRUE(naive_.Remove(prefix, e.second));
    } else if (op < 66) {
      // Usually a prefix that is absent or owned by someone else.
      const Cidr prefix = RandomPrefix();
      const PeerId peer = RandomPeer();
      ASSERT_EQ(trie_.Remove(prefix, peer), naive_.Remove(prefix, peer))
          << "step " << step << " " << prefix.ToString() << " peer " << peer;
    } else if (op < 67) {
      const PeerId peer = RandomPeer();
      trie_.RemoveByPeer(peer);
      naive_.RemoveByPeer(peer);
    }
    ExpectSameLookup(step);
    if (HasFatalFailure()) return;
    ++lookups;
    if ((step + 1) % kRoundSteps == 0) {
      ExpectSameContents(step);
      if (HasFatalFailure()) return;
      trie_.Clear();
      naive_.Clear();
    }
  }
  EXPECT_GE(inserts, 100'000);
  EXPECT_GE(lookups, 100'000);
}

// One large table: the trie's depth and branching at scale, then emptied
// peer by peer.
void AllowedIpsRandomTest::LargeTableMatchesNaiveReferenceAndEmpties() {
  for (int i = 0; i < 20'000; ++i) {
    const Cidr prefix = RandomPrefix();
    const PeerId peer = RandomPeer();
    trie_.Insert(prefix, peer);
    naive_.Insert(prefix, peer);
  }
  ExpectSameContents(0);
  for (int i = 0; i < 2'000 && !HasFatalFailure(); ++i) ExpectSameLookup(i);
  for (PeerId peer = 1; peer <= kPeers; ++peer) {
    trie_.RemoveByPeer(peer);
    naive_.RemoveByPeer(peer);
    if (peer % 8 == 0) ExpectSameContents(int(peer));
  }
  EXPECT_EQ(trie_.size(), 0u);
}

TEST_F(AllowedIpsRandomTest, V4MatchesNaiveReference) {
  family_ = IpAddress::Family::kV4;
  MatchesNaiveReference();
}

TEST_F(AllowedIpsRandomTest, V6MatchesNaiveReference) {
  family_ = IpAddress::Family::kV6;
  MatchesNaiveReference();
}

TEST_F(AllowedIpsRandomTest, V4LargeTableMatchesNaiveReferenceAndEmpties) {
  family_ = IpAddress::Family::kV4;
  LargeTableMatchesNaiveReferenceAndEmpties();
}

TEST_F(AllowedIpsRandomTest, V6LargeTableMatchesNaiveReferenceAndEmpties) {
  family_ = IpAddress::Family::kV6;
  LargeTableMatchesNaiveReferenceAndEmpties();
}

}  // namespace
}  // namespace zl::wg
