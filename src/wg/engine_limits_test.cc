// wg::Engine's bounds on configuration: at most kMaxPeers peers (as
// wireguard-go) and max_allowed_ips prefixes, and peer removal in bounded
// steps.

#include <gtest/gtest.h>

#include <cerrno>

#include "base/clock.h"
#include "crypto/random.h"
#include "wg/engine.h"

namespace zl::wg {
namespace {

class NullSink final : public PacketSink {
 public:
  void SendToNetwork(PeerId, const Path&, ByteSpan) override {}
  void WriteToTun(PeerId, ByteSpan) override {}
};

crypto::PublicKey KeyNumber(uint32_t n) {
  crypto::PublicKey key;
  StoreLe32(key.data(), n + 1);
  return key;
}

Cidr HostRoute(uint32_t n) { return Cidr(IpAddress::V4(0x0a000000u + n), 32); }

class EngineLimitsTest : public ::testing::Test {
 protected:
  Result<void> AddPeer(Engine& engine, uint32_t n,
                       std::vector<Cidr> allowed_ips = {}) {
    PeerUpdate u;
    u.public_key = KeyNumber(n);
    u.allowed_ips = std::move(allowed_ips);
    return engine.ApplyPeerUpdate(u, clock_.Read(), sink_);
  }

  crypto::DeterministicRng rng_{3};
  FakeClock clock_;
  NullSink sink_;
};

// Without a private key a peer costs no X25519, so the real cap is cheap to
// reach.
TEST_F(EngineLimitsTest, PeersBeyondWireGuardGosMaximumAreRefused) {
  Engine engine({}, rng_);
  for (uint32_t n = 0; n < kMaxPeers; ++n) {
    ASSERT_TRUE(AddPeer(engine, n).ok()) << n;
  }
  EXPECT_EQ(engine.peer_count(), kMaxPeers);
  auto refused = AddPeer(engine, kMaxPeers);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), EINVAL);
  EXPECT_EQ(engine.peer_count(), kMaxPeers);
  // Configured peers can still be updated, and a removal makes room.
  EXPECT_TRUE(AddPeer(engine, 7, {HostRoute(7)}).ok());
  PeerUpdate remove;
  remove.public_key = KeyNumber(7);
  remove.remove = true;
  ASSERT_TRUE(engine.ApplyPeerUpdate(remove, clock_.Read(), sink_).ok());
  EXPECT_TRUE(AddPeer(engine, kMaxPeers).ok());
}

TEST_F(EngineLimitsTest, PrefixesBeyondTheCapAreRefused) {
  EngineOptions options;
  options.max_allowed_ips = 10;
  Engine engine(options, rng_);
  std::vector<Cidr> eight;
  for (uint32_t i = 0; i < 8; ++i) eight.push_back(HostRoute(i));
  ASSERT_TRUE(AddPeer(engine, 1, eight).ok());
  // Two more fit; the third is refused, and the peer keeps what fit.
  auto r = AddPeer(engine, 2, {HostRoute(100), HostRoute(101), HostRoute(102)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOSPC);
  EXPECT_EQ(engine.SnapshotPeer(KeyNumber(2))->allowed_ips.size(), 2u);
  // Moving a prefix that exists to another peer does not grow the table.
  EXPECT_TRUE(AddPeer(engine, 2, {HostRoute(0)}).ok());
  EXPECT_EQ(engine.SnapshotPeer(KeyNumber(2))->allowed_ips.size(), 3u);
  // Replacing a peer's list frees its prefixes first.
  PeerUpdate replace;
  replace.public_key = KeyNumber(1);
  replace.replace_allowed_ips = true;
  replace.allowed_ips = {HostRoute(200), HostRoute(201)};
  EXPECT_TRUE(engine.ApplyPeerUpdate(replace, clock_.Read(), sink_).ok());
}

TEST_F(EngineLimitsTest, RemovePeersUpToRemovesAtMostThatMany) {
  Engine engine({}, rng_);
  for (uint32_t n = 0; n < 10; ++n) ASSERT_TRUE(AddPeer(engine, n).ok());
  EXPECT_EQ(engine.RemovePeersUpTo(4), 6u);
  EXPECT_EQ(engine.peer_count(), 6u);
  EXPECT_EQ(engine.RemovePeersUpTo(100), 0u);
  EXPECT_EQ(engine.peer_count(), 0u);
}

}  // namespace
}  // namespace zl::wg
