#include "overlay/peer_sync.h"

#include <gtest/gtest.h>

namespace zl::overlay {
namespace {

crypto::PublicKey Key(uint8_t b) {
  uint8_t bytes[32] = {};
  bytes[0] = b;
  return crypto::PublicKey(ByteSpan(bytes, 32));
}

Cidr C(const char* text) { return *Cidr::Parse(text); }
Endpoint E(const char* text) { return *Endpoint::Parse(text); }

device::PeerState Have(uint8_t key, std::vector<Cidr> ips, std::optional<Endpoint> ep,
                       uint16_t keepalive = kPersistentKeepaliveSeconds) {
  device::PeerState p;
  p.public_key = Key(key);
  p.allowed_ips = std::move(ips);
  p.endpoint = ep;
  p.persistent_keepalive_interval = keepalive;
  return p;
}

TEST(PeerSyncTest, NewPeersAreAddedWithEndpointRoutesAndKeepalive) {
  device::DeviceState current;
  AppliedEndpoints applied;
  auto plan = PlanPeerSync({{Key(1), E("10.0.0.1:51820"), {C("10.200.1.0/24")}}}, current, applied);
  ASSERT_EQ(plan.peers.size(), 1u);
  const auto& p = plan.peers[0];
  EXPECT_EQ(p.public_key, Key(1));
  EXPECT_FALSE(p.remove);
  EXPECT_EQ(p.endpoint, E("10.0.0.1:51820"));
  EXPECT_TRUE(p.replace_allowed_ips);
  EXPECT_EQ(p.allowed_ips, std::vector<Cidr>{C("10.200.1.0/24")});
  EXPECT_EQ(p.persistent_keepalive_interval, kPersistentKeepaliveSeconds);
  EXPECT_FALSE(plan.replace_peers);
}

TEST(PeerSyncTest, UnchangedPeersProduceNoChange) {
  device::DeviceState current;
  current.peers.push_back(Have(1, {C("10.200.1.0/24")}, E("10.0.0.1:51820")));
  AppliedEndpoints applied{{Key(1), E("10.0.0.1:51820")}};
  auto plan = PlanPeerSync({{Key(1), E("10.0.0.1:51820"), {C("10.200.1.0/24")}}}, current, applied);
  EXPECT_TRUE(plan.peers.empty());
}

TEST(PeerSyncTest, RoamedEndpointIsKeptWhileThePublishedOneIsUnchanged) {
  device::DeviceState current;
  // The device learnt 192.0.2.9:40000 by roaming (NAT).
  current.peers.push_back(Have(1, {C("10.200.1.0/24")}, E("192.0.2.9:40000")));
  AppliedEndpoints applied{{Key(1), E("10.0.0.1:51820")}};
  auto plan = PlanPeerSync({{Key(1), E("10.0.0.1:51820"), {C("10.200.1.0/24")}}}, current, applied);
  EXPECT_TRUE(plan.peers.empty());
}

TEST(PeerSyncTest, ChangedPublishedEndpointIsApplied) {
  device::DeviceState current;
  current.peers.push_back(Have(1, {C("10.200.1.0/24")}, E("10.0.0.1:51820")));
  AppliedEndpoints applied{{Key(1), E("10.0.0.1:51820")}};
  auto plan = PlanPeerSync({{Key(1), E("10.0.0.7:51820"), {C("10.200.1.0/24")}}}, current, applied);
  ASSERT_EQ(plan.peers.size(), 1u);
  EXPECT_EQ(plan.peers[0].endpoint, E("10.0.0.7:51820"));
  EXPECT_FALSE(plan.peers[0].replace_allowed_ips);
  EXPECT_EQ(applied[Key(1)], E("10.0.0.7:51820"));
}

TEST(PeerSyncTest, ChangedAllowedIpsAreReplacedNotAppended) {
  device::DeviceState current;
  current.peers.push_back(Have(1, {C("10.200.1.0/24")}, E("10.0.0.1:51820")));
  AppliedEndpoints applied{{Key(1), E("10.0.0.1:51820")}};
  auto plan = PlanPeerSync({{Key(1), E("10.0.0.1:51820"), {C("10.200.4.0/24")}}}, current, applied);
  ASSERT_EQ(plan.peers.size(), 1u);
  EXPECT_TRUE(plan.peers[0].replace_allowed_ips);
  EXPECT_EQ(plan.peers[0].allowed_ips, std::vector<Cidr>{C("10.200.4.0/24")});
}

TEST(PeerSyncTest, AllowedIpsCompareAsSetsOfMaskedPrefixes) {
  device::DeviceState current;
  current.peers.push_back(
      Have(1, {C("fd42::/64"), C("10.200.1.0/24")}, E("10.0.0.1:51820")));
  AppliedEndpoints applied{{Key(1), E("10.0.0.1:51820")}};
  auto plan = PlanPeerSync({{Key(1), E("10.0.0.1:51820"), {C("10.200.1.9/24"), C("fd42::/64")}}},
                           current, applied);
  EXPECT_TRUE(plan.peers.empty());
}

TEST(PeerSyncTest, PeersNoLongerDesiredAreRemoved) {
  device::DeviceState current;
  current.peers.push_back(Have(1, {C("10.200.1.0/24")}, E("10.0.0.1:51820")));
  current.peers.push_back(Have(2, {C("10.200.2.0/24")}, E("10.0.0.2:51820")));
  AppliedEndpoints applied{{Key(1), E("10.0.0.1:51820")}, {Key(2), E("10.0.0.2:51820")}};
  auto plan = PlanPeerSync({{Key(1), E("10.0.0.1:51820"), {C("10.200.1.0/24")}}}, current, applied);
  ASSERT_EQ(plan.peers.size(), 1u);
  EXPECT_EQ(plan.peers[0].public_key, Key(2));
  EXPECT_TRUE(plan.peers[0].remove);
  EXPECT_EQ(applied.count(Key(2)), 0u);
}

TEST(PeerSyncTest, PendingPeerWithoutEndpointGetsNoEndpointAndNoKeepalive) {
  device::DeviceState current;
  AppliedEndpoints applied;
  DesiredPeer pending{Key(9), std::nullopt, {C("10.200.9.0/24")}, 0};
  auto plan = PlanPeerSync({pending}, current, applied);
  ASSERT_EQ(plan.peers.size(), 1u);
  EXPECT_FALSE(plan.peers[0].endpoint.has_value());
  EXPECT_EQ(plan.peers[0].persistent_keepalive_interval, uint16_t{0});
}

}  // namespace
}  // namespace zl::overlay
