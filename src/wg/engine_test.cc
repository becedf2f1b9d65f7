// wg::Engine: handshakes, data, drops, cookies, configuration, snapshots.
// Timer behaviour is in engine_timers_test.cc. The harness is
// engine_test_util.h: two engines, a fake clock, recorded outputs.

#include "wg/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <vector>

#include "wg/engine_test_util.h"
#include "wg/packet.h"

namespace zl::wg {
namespace {

using harness::Ep;
using harness::Ip;
using harness::Ipv4Packet;
using harness::Ipv6Packet;
using harness::Prefix;
using harness::TypeOf;
using Kind = DecapsulateResult::Kind;
using EncapKind = EncapsulateResult::Kind;

class EngineTest : public harness::EnginePairTest {
 protected:
  EngineTest() { Connect(); }
};

TEST_F(EngineTest, HandshakeThenIpv4DataFlowsBothWays) {
  const auto request = Ipv4Packet("10.0.0.1", "10.0.0.2", 100, 0x11);
  EXPECT_EQ(a->Send(request, now()).kind, EncapKind::kQueued);
  ASSERT_EQ(a->sink.outbox.size(), 1u);
  EXPECT_EQ(TypeOf(a->sink.outbox[0].data), MessageType::kInitiation);
  EXPECT_EQ(a->sink.outbox[0].to.remote, b->address);

  Pump();
  ASSERT_EQ(b->delivered.size(), 1u);
  EXPECT_EQ(b->delivered[0], request);

  const auto reply = Ipv4Packet("10.0.0.2", "10.0.0.1", 333, 0x22);
  auto r = b->Send(reply, now());
  EXPECT_EQ(r.kind, EncapKind::kSent);
  EXPECT_EQ(r.to.remote, a->address);
  Pump();
  ASSERT_EQ(a->delivered.size(), 1u);
  EXPECT_EQ(a->delivered[0], reply);

  EXPECT_EQ(a->Send(request, now()).kind, EncapKind::kSent);
  Pump();
  EXPECT_EQ(b->delivered.size(), 2u);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 1u);
  EXPECT_EQ(b->CountSent(MessageType::kResponse), 1u);
}

TEST_F(EngineTest, HandshakeThenIpv6DataFlowsBothWays) {
  const auto request = Ipv6Packet("fd00::1", "fd00::2", 77, 0x33);
  EXPECT_EQ(a->Send(request, now()).kind, EncapKind::kQueued);
  Pump();
  ASSERT_EQ(b->delivered.size(), 1u);
  EXPECT_EQ(b->delivered[0], request);

  const auto reply = Ipv6Packet("fd00::2", "fd00::1", 1200, 0x44);
  EXPECT_EQ(b->Send(reply, now()).kind, EncapKind::kSent);
  Pump();
  ASSERT_EQ(a->delivered.size(), 1u);
  EXPECT_EQ(a->delivered[0], reply);
}

TEST_F(EngineTest, TransportPayloadIsPaddedToSixteenAndPaddingIsTrimmed) {
  Establish();
  const auto packet = Ipv4Packet("10.0.0.1", "10.0.0.2", 1);  // 21 bytes
  ASSERT_EQ(a->Send(packet, now()).kind, EncapKind::kSent);
  EXPECT_EQ(a->last_sent.size(),
            kTransportHeaderSize + 32 + crypto::kAeadTagLen);
  Pump();
  EXPECT_EQ(b->delivered.back(), packet);
}

TEST_F(EngineTest, PaddingNeverExceedsTheOutputBuffer) {
  Establish();
  const auto packet = Ipv4Packet("10.0.0.1", "10.0.0.2", 1);  // 21 bytes
  std::vector<uint8_t> out(packet.size() + kTransportHeaderSize +
                           crypto::kAeadTagLen);
  auto r = a->engine->Encapsulate(ByteSpan(packet), MutableByteSpan(out), now(),
                                  a->sink);
  ASSERT_EQ(r.kind, EncapKind::kSent);
  EXPECT_EQ(r.length, out.size());
  auto result = Receive(*b, out, a->address);
  EXPECT_EQ(result.kind, Kind::kDeliver);
  EXPECT_EQ(b->delivered.back(), packet);
}

TEST_F(EngineTest, PaddingStopsAtTheMtuForFullSizePackets) {
  Establish();
  // 1420 is not a multiple of 16; padded freely it would be 1424 and a
  // full-size packet would no longer fit the underlay.
  const auto packet = Ipv4Packet("10.0.0.1", "10.0.0.2", kDefaultMtu - 20);
  ASSERT_EQ(a->Send(packet, now()).kind, EncapKind::kSent);
  EXPECT_EQ(a->last_sent.size(),
            kTransportHeaderSize + kDefaultMtu + crypto::kAeadTagLen);
  // A smaller MTU caps the padding of smaller packets too.
  a->engine->SetMtu(1001);
  const auto mid = Ipv4Packet("10.0.0.1", "10.0.0.2", 1000 - 20);
  ASSERT_EQ(a->Send(mid, now()).kind, EncapKind::kSent);
  EXPECT_EQ(a->last_sent.size(), kTransportHeaderSize + 1001 + crypto::kAeadTagLen);
  Pump();
  EXPECT_EQ(b->delivered.back(), mid);
}

TEST_F(EngineTest, EncapsulateInPlaceAtTransportHeaderOffset) {
  Establish();
  const auto packet = Ipv4Packet("10.0.0.1", "10.0.0.2", 60);
  std::vector<uint8_t> buffer(packet.size() + 64);
  std::copy(packet.begin(), packet.end(),
            buffer.begin() + kTransportHeaderSize);
  auto r = a->engine->Encapsulate(
      ByteSpan(buffer.data() + kTransportHeaderSize, packet.size()),
      MutableByteSpan(buffer), now(), a->sink);
  ASSERT_EQ(r.kind, EncapKind::kSent);
  buffer.resize(r.length);
  EXPECT_EQ(Receive(*b, buffer, a->address).kind, Kind::kDeliver);
  EXPECT_EQ(b->delivered.back(), packet);
}

TEST_F(EngineTest, ResponderWaitsForKeyConfirmationBeforeSending) {
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  Deliver(*a);  // b consumes the initiation and answers
  ASSERT_EQ(b->sink.outbox.size(), 1u);
  EXPECT_EQ(TypeOf(b->sink.outbox[0].data), MessageType::kResponse);

  // b's keypair is only "next" until a uses it: b must not send with it.
  const auto early = Ipv4Packet("10.0.0.2", "10.0.0.1", 10);
  EXPECT_EQ(b->Send(early, now()).kind, EncapKind::kQueued);
  EXPECT_EQ(b->CountSent(MessageType::kInitiation),
            0u);  // a handshake was just made
  EXPECT_EQ(b->CountSent(MessageType::kTransportData), 0u);

  Pump();  // response -> a; a's staged packet -> b; b's staged packet -> a
  ASSERT_EQ(a->delivered.size(), 1u);
  EXPECT_EQ(a->delivered[0], early);
}

TEST_F(EngineTest, MatchingPresharedKeysEstablishASession) {
  crypto::PresharedKey psk;
  a->rng.Fill(psk.mutable_span());
  Connect(psk, psk);
  Establish();
  EXPECT_EQ(SendAToB().kind, Kind::kDeliver);
}

TEST_F(EngineTest, MismatchedPresharedKeysFailTheHandshake) {
  crypto::PresharedKey psk_a, psk_b;
  a->rng.Fill(psk_a.mutable_span());
  b->rng.Fill(psk_b.mutable_span());
  Connect(psk_a, psk_b);
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now()).kind,
            EncapKind::kQueued);
  Pump();
  EXPECT_TRUE(b->delivered.empty());
  EXPECT_EQ(PeerDrops(*a, *b, DropReason::kHandshakeFailed), 1u);
  EXPECT_EQ(a->CountSent(MessageType::kTransportData), 0u);
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now()).kind,
            EncapKind::kQueued);
}

TEST_F(EngineTest, ReplayedInitiationIsRejected) {
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  const std::vector<uint8_t> initiation = a->sink.outbox.at(0).data;
  Pump();
  clock.Advance(std::chrono::seconds(1));  // not a flood, just old
  EXPECT_EQ(Receive(*b, initiation, a->address).drop,
            DropReason::kReplayedInitiation);
  EXPECT_EQ(PeerDrops(*b, *a, DropReason::kReplayedInitiation), 1u);
  EXPECT_TRUE(b->sink.outbox.empty());  // no second response
  // The session is untouched.
  EXPECT_EQ(SendAToB().kind, Kind::kDeliver);
}

TEST_F(EngineTest, InitiationsFasterThanFiftyPerSecondAreAFlood) {
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  const std::vector<uint8_t> first = a->sink.outbox.at(0).data;
  Lose();
  Advance(kRekeyTimeout + kRekeyTimeoutJitterMax + kTickInterval,
          /*pump=*/false);
  ASSERT_EQ(a->sink.outbox.size(), 1u);  // the retransmission, newer timestamp
  const std::vector<uint8_t> second = a->sink.outbox.at(0).data;
  EXPECT_EQ(Receive(*b, first, a->address).kind, Kind::kHandshake);
  EXPECT_EQ(Receive(*b, second, a->address).drop, DropReason::kInitiationFlood);
  clock.Advance(std::chrono::milliseconds(21));
  EXPECT_EQ(Receive(*b, second, a->address).kind, Kind::kHandshake);
}

TEST_F(EngineTest, ReplayedDataPacketIsRejected) {
  Establish();
  EXPECT_EQ(SendAToB().kind, Kind::kDeliver);
  const std::vector<uint8_t> datagram = a->last_sent;
  EXPECT_EQ(Receive(*b, datagram, a->address).drop,
            DropReason::kReplayedCounter);
  EXPECT_EQ(PeerDrops(*b, *a, DropReason::kReplayedCounter), 1u);
}

TEST_F(EngineTest, CorruptedDataPacketFailsToDecrypt) {
  Establish();
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  std::vector<uint8_t> datagram = a->last_sent;
  datagram[kTransportHeaderSize + 3] ^= 1;
  EXPECT_EQ(Receive(*b, datagram, a->address).drop, DropReason::kDecryptFailed);
  EXPECT_EQ(PeerDrops(*b, *a, DropReason::kDecryptFailed), 1u);
  // A failed packet does not burn its counter: the genuine one still goes.
  EXPECT_EQ(Receive(*b, a->last_sent, a->address).kind, Kind::kDeliver);
}

TEST_F(EngineTest, InnerSourceOutsidePeersAllowedIpsIsDropped) {
  Establish();
  // Routed to b by its destination, but the source is not a's.
  ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.99", "10.0.0.2", 40), now()).kind,
            EncapKind::kSent);
  auto results = Deliver(*a);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].kind, Kind::kDropped);
  EXPECT_EQ(results[0].drop, DropReason::kSourceNotAllowed);
  EXPECT_EQ(PeerDrops(*b, *a, DropReason::kSourceNotAllowed), 1u);
  EXPECT_EQ(b->delivered.size(), 1u);  // only Establish()'s packet
}

TEST_F(EngineTest, EncapsulateRejectsNonIpAndOverlongLengthPackets) {
  Establish();
  // Not an IP packet: the engine refuses it already on the way in...
  std::vector<uint8_t> junk(40, 0x00);
  EXPECT_EQ(a->Send(junk, now()).drop, DropReason::kInvalidPacket);
  // ...and an IPv4 header claiming more than was sent is refused too.
  auto lying = Ipv4Packet("10.0.0.1", "10.0.0.2", 40);
  StoreBe16(&lying[2], 2000);
  EXPECT_EQ(a->Send(lying, now()).drop, DropReason::kInvalidPacket);
  EXPECT_EQ(InterfaceDrops(*a, DropReason::kInvalidPacket), 2u);
}

TEST_F(EngineTest, EncapsulateDropReasons) {
  // No route.
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.9.9.9", 20), now()).drop,
            DropReason::kNoRoute);
  EXPECT_EQ(InterfaceDrops(*a, DropReason::kNoRoute), 1u);
  // A peer without an endpoint.
  PeerUpdate c;
  c.public_key =
      crypto::DerivePublicKey(crypto::GeneratePrivateKey(a->rng)).value();
  c.allowed_ips = {Prefix("10.0.3.0/24")};
  ASSERT_TRUE(a->engine->ApplyPeerUpdate(c, now(), a->sink).ok());
  auto r = a->Send(Ipv4Packet("10.0.0.1", "10.0.3.1", 20), now());
  EXPECT_EQ(r.drop, DropReason::kNoEndpoint);
  EXPECT_NE(r.peer, kNoPeer);
  EXPECT_EQ(a->engine->SnapshotPeer(c.public_key)
                ->drops[size_t(DropReason::kNoEndpoint)],
            1u);
  // No private key.
  ASSERT_TRUE(a->engine->SetPrivateKey(std::nullopt, now()).ok());
  EXPECT_FALSE(a->engine->public_key().has_value());
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).drop,
            DropReason::kNoPrivateKey);
}

TEST_F(EngineTest, StagingQueueDropsTheOldestWhenFull) {
  EngineOptions small;
  small.staged_packets_per_peer = 2;
  Build(small, {});
  Connect();
  for (uint8_t i = 1; i <= 3; ++i) {
    EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 10, i), now()).kind,
              EncapKind::kQueued);
  }
  EXPECT_EQ(PeerDrops(*a, *b, DropReason::kQueueFull), 1u);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation),
            1u);  // one handshake for all three
  Pump();
  ASSERT_EQ(b->delivered.size(), 2u);
  EXPECT_EQ(b->delivered[0], Ipv4Packet("10.0.0.1", "10.0.0.2", 10, 2));
  EXPECT_EQ(b->delivered[1], Ipv4Packet("10.0.0.1", "10.0.0.2", 10, 3));
}

TEST_F(EngineTest, SimultaneousInitiationConvergesToAWorkingSession) {
  const auto from_a = Ipv4Packet("10.0.0.1", "10.0.0.2", 30, 0xa1);
  const auto from_b = Ipv4Packet("10.0.0.2", "10.0.0.1", 30, 0xb1);
  EXPECT_EQ(a->Send(from_a, now()).kind, EncapKind::kQueued);
  EXPECT_EQ(b->Send(from_b, now()).kind, EncapKind::kQueued);
  // The initiations cross: each side answers the other's.
  std::vector<harness::Datagram> in_flight_a, in_flight_b;
  in_flight_a.swap(a->sink.outbox);
  in_flight_b.swap(b->sink.outbox);
  for (auto& d : in_flight_a) Receive(*b, d.data, a->address);
  for (auto& d : in_flight_b) Receive(*a, d.data, b->address);
  Pump();
  Advance(2 * (kRekeyTimeout + kRekeyTimeoutJitterMax));
  ASSERT_EQ(b->delivered.size(), 1u);
  ASSERT_EQ(a->delivered.size(), 1u);
  EXPECT_EQ(b->delivered[0], from_a);
  EXPECT_EQ(a->delivered[0], from_b);
  // And the session now carries data both ways directly.
  EXPECT_EQ(a->Send(from_a, now()).kind, EncapKind::kSent);
  EXPECT_EQ(b->Send(from_b, now()).kind, EncapKind::kSent);
  Pump();
  EXPECT_EQ(b->delivered.size(), 2u);
  EXPECT_EQ(a->delivered.size(), 2u);
}

TEST_F(EngineTest, ResponderLearnsTheEndpointFromTheInitiation) {
  Build({}, {});
  Connect(std::nullopt, std::nullopt, /*b_knows_a=*/false);
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 10), now()).drop,
            DropReason::kNoEndpoint);
  Establish();
  EXPECT_EQ(b->engine->SnapshotPeer(a->public_key)->endpoint, a->address);
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 10), now()).kind,
            EncapKind::kSent);
}

TEST_F(EngineTest, SourceIsCheckedAgainstTheSendingPeerNotAnyPeer) {
  // b also talks to c (10.0.0.3); c must not send with a's address.
  harness::Node c("c", 3, clock, Ep("192.0.2.3:51820"));
  ASSERT_TRUE(c.engine->SetPrivateKey(c.private_key, now()).ok());
  PeerUpdate to_b;
  to_b.public_key = b->public_key;
  to_b.endpoint = b->address;
  to_b.allowed_ips = {Prefix("10.0.0.0/24")};
  ASSERT_TRUE(c.engine->ApplyPeerUpdate(to_b, now(), c.sink).ok());
  PeerUpdate to_c;
  to_c.public_key = c.public_key;
  to_c.allowed_ips = {Prefix("10.0.0.3/32")};
  ASSERT_TRUE(b->engine->ApplyPeerUpdate(to_c, now(), b->sink).ok());

  auto carry = [&](harness::Node& from, harness::Node& to) {
    std::vector<DecapsulateResult> results;
    for (auto& d : from.sink.outbox)
      results.push_back(Receive(to, d.data, from.address));
    from.sink.outbox.clear();
    return results;
  };
  c.Send(Ipv4Packet("10.0.0.3", "10.0.0.2", 20), now());
  carry(c, *b);
  carry(*b, c);
  auto results = carry(c, *b);  // c's staged packet
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].kind, Kind::kDeliver);

  ASSERT_EQ(c.Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind,
            EncapKind::kSent);
  results = carry(c, *b);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].drop, DropReason::kSourceNotAllowed);
  EXPECT_EQ(b->engine->SnapshotPeer(c.public_key)
                ->drops[size_t(DropReason::kSourceNotAllowed)],
            1u);
  EXPECT_EQ(PeerDrops(*b, *a, DropReason::kSourceNotAllowed), 0u);
  // Replies to c go to c, found by destination.
  auto r = b->Send(Ipv4Packet("10.0.0.2", "10.0.0.3", 20), now());
  EXPECT_EQ(r.kind, EncapKind::kSent);
  EXPECT_EQ(r.to.remote, c.address);
}

TEST_F(EngineTest, UnknownStaticKeyInInitiationIsUnknownPeer) {
  harness::Node stranger("c", 3, clock, Ep("192.0.2.3:51820"));
  ASSERT_TRUE(stranger.engine->SetPrivateKey(stranger.private_key, now()).ok());
  PeerUpdate to_b;
  to_b.public_key = b->public_key;
  to_b.endpoint = b->address;
  to_b.allowed_ips = {Prefix("10.0.0.2/32")};
  ASSERT_TRUE(
      stranger.engine->ApplyPeerUpdate(to_b, now(), stranger.sink).ok());
  stranger.Send(Ipv4Packet("10.0.0.3", "10.0.0.2", 20), now());
  ASSERT_EQ(stranger.sink.outbox.size(), 1u);
  EXPECT_EQ(Receive(*b, stranger.sink.outbox[0].data, stranger.address).drop,
            DropReason::kUnknownPeer);
  EXPECT_EQ(InterfaceDrops(*b, DropReason::kUnknownPeer), 1u);
}

TEST_F(EngineTest, MalformedAndUnauthenticatedMessagesAreDropped) {
  std::vector<uint8_t> junk(50, 0x07);
  EXPECT_EQ(Receive(*b, junk, a->address).drop, DropReason::kMalformedMessage);
  std::vector<uint8_t> bad_mac(kInitiationSize, 0);
  bad_mac[0] = 1;
  EXPECT_EQ(Receive(*b, bad_mac, a->address).drop, DropReason::kInvalidMac1);
  std::vector<uint8_t> transport(64, 0);
  transport[0] = 4;
  EXPECT_EQ(Receive(*b, transport, a->address).drop, DropReason::kUnknownIndex);
  EXPECT_EQ(InterfaceDrops(*b, DropReason::kMalformedMessage), 1u);
  EXPECT_EQ(InterfaceDrops(*b, DropReason::kInvalidMac1), 1u);
  EXPECT_EQ(InterfaceDrops(*b, DropReason::kUnknownIndex), 1u);
}

TEST_F(EngineTest, DataPacketFromNewAddressMovesTheEndpoint) {
  Establish();
  const Endpoint roamed = Ep("198.51.100.7:4000");
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  EXPECT_EQ(Receive(*b, a->last_sent, roamed).kind, Kind::kDeliver);
  EXPECT_EQ(b->engine->SnapshotPeer(a->public_key)->endpoint, roamed);
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 10), now()).to.remote,
            roamed);
}

TEST_F(EngineTest, UnauthenticatedPacketDoesNotMoveTheEndpoint) {
  Establish();
  const Endpoint attacker = Ep("203.0.113.9:1");
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  std::vector<uint8_t> forged = a->last_sent;
  forged.back() ^= 0x80;
  EXPECT_EQ(Receive(*b, forged, attacker).drop, DropReason::kDecryptFailed);
  // A replay from elsewhere is authentic but not new: no move either.
  EXPECT_EQ(Receive(*b, a->last_sent, a->address).kind, Kind::kDeliver);
  EXPECT_EQ(Receive(*b, a->last_sent, attacker).drop,
            DropReason::kReplayedCounter);
  EXPECT_EQ(b->engine->SnapshotPeer(a->public_key)->endpoint, a->address);
}

TEST_F(EngineTest, RemovingAPeerDropsItsSessions) {
  Establish();
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  const std::vector<uint8_t> in_flight = a->last_sent;
  ASSERT_TRUE(b->engine->HasKeyMaterialForTesting(a->public_key));
  b->engine->RemovePeer(a->public_key);
  EXPECT_EQ(b->engine->peer_count(), 0u);
  EXPECT_FALSE(b->engine->HasKeyMaterialForTesting(a->public_key));
  EXPECT_EQ(Receive(*b, in_flight, a->address).drop, DropReason::kUnknownIndex);
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 10), now()).drop,
            DropReason::kNoRoute);
  // Re-adding it starts from scratch: a new handshake is needed.
  Connect();
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 10), now()).kind,
            EncapKind::kQueued);
}

TEST_F(EngineTest, RemovePeerViaUpdateAndRemoveAllPeers) {
  Establish();
  PeerUpdate remove;
  remove.public_key = b->public_key;
  remove.remove = true;
  ASSERT_TRUE(a->engine->ApplyPeerUpdate(remove, now(), a->sink).ok());
  EXPECT_EQ(a->engine->peer_count(), 0u);
  b->engine->RemoveAllPeers();
  EXPECT_EQ(b->engine->peer_count(), 0u);
  EXPECT_TRUE(b->engine->Snapshot().empty());
}

TEST_F(EngineTest, UpdateOnlySkipsUnknownPeers) {
  PeerUpdate u;
  u.public_key =
      crypto::DerivePublicKey(crypto::GeneratePrivateKey(a->rng)).value();
  u.update_only = true;
  ASSERT_TRUE(a->engine->ApplyPeerUpdate(u, now(), a->sink).ok());
  EXPECT_EQ(a->engine->peer_count(), 1u);
  EXPECT_FALSE(a->engine->SnapshotPeer(u.public_key).has_value());
}

TEST_F(EngineTest, PeerWithOurOwnPublicKeyIsIgnoredOrRemoved) {
  PeerUpdate self;
  self.public_key = a->public_key;
  ASSERT_TRUE(a->engine->ApplyPeerUpdate(self, now(), a->sink).ok());
  EXPECT_EQ(a->engine->peer_count(), 1u);
  // Taking the key of a configured peer removes that peer.
  ASSERT_TRUE(a->engine->SetPrivateKey(b->private_key, now()).ok());
  EXPECT_EQ(a->engine->public_key(), b->public_key);
  EXPECT_EQ(a->engine->peer_count(), 0u);
}

TEST_F(EngineTest, ReplaceAllowedIpsAndSnapshotListsThem) {
  PeerUpdate u;
  u.public_key = b->public_key;
  u.replace_allowed_ips = true;
  u.allowed_ips = {Prefix("10.1.0.0/16"), Prefix("fd01::/64")};
  ASSERT_TRUE(a->engine->ApplyPeerUpdate(u, now(), a->sink).ok());
  auto snap = a->engine->SnapshotPeer(b->public_key);
  ASSERT_TRUE(snap.has_value());
  std::vector<Cidr> got = snap->allowed_ips;
  std::sort(got.begin(), got.end());
  std::vector<Cidr> want = u.allowed_ips;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).drop,
            DropReason::kNoRoute);
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.1.2.3", 20), now()).kind,
            EncapKind::kQueued);
}

TEST_F(EngineTest, SnapshotReportsHandshakeTimeAndDatagramBytes) {
  auto before = a->engine->SnapshotPeer(b->public_key);
  ASSERT_TRUE(before.has_value());
  EXPECT_FALSE(before->last_handshake.has_value());
  EXPECT_EQ(before->endpoint, b->address);

  clock.Advance(std::chrono::seconds(7));
  const WallTime handshake_time = now().wall;
  Establish();
  auto sa = a->engine->SnapshotPeer(b->public_key).value();
  auto sb = b->engine->SnapshotPeer(a->public_key).value();
  EXPECT_EQ(sa.last_handshake, handshake_time);
  EXPECT_EQ(sb.last_handshake, handshake_time);  // confirmed by a's data
  const uint64_t data =
      kTransportHeaderSize + 64 + crypto::kAeadTagLen;  // 60 B padded to 64
  EXPECT_EQ(sa.tx_bytes, kInitiationSize + data);
  EXPECT_EQ(sb.rx_bytes, kInitiationSize + data);
  EXPECT_EQ(sb.tx_bytes, kResponseSize);
  EXPECT_EQ(sa.rx_bytes, kResponseSize);
  EXPECT_EQ(sa.public_key, b->public_key);
  EXPECT_NE(sa.id, kNoPeer);
  EXPECT_EQ(a->engine->Snapshot().size(), 1u);
}

// Removing the peer, or clearing our key, wipes the keys; OpenSSL's copy of
// the last transport key in the engine's AEAD context goes with them.
TEST_F(EngineTest, RemovingThePeerLeavesNoKeyInTheAeadContext) {
  Establish();
  ASSERT_TRUE(b->engine->AeadContextHoldsKeyForTesting());
  b->engine->RemovePeer(a->public_key);
  EXPECT_FALSE(b->engine->AeadContextHoldsKeyForTesting());
}

TEST_F(EngineTest, ClearingThePrivateKeyLeavesNoKeyInTheAeadContext) {
  Establish();
  ASSERT_TRUE(a->engine->AeadContextHoldsKeyForTesting());
  ASSERT_TRUE(a->engine->SetPrivateKey(std::nullopt, now()).ok());
  EXPECT_FALSE(a->engine->AeadContextHoldsKeyForTesting());
}

TEST_F(EngineTest, NewPrivateKeyDropsSessions) {
  Establish();
  crypto::PrivateKey fresh = crypto::GeneratePrivateKey(a->rng);
  ASSERT_TRUE(a->engine->SetPrivateKey(fresh, now()).ok());
  EXPECT_FALSE(a->engine->HasKeyMaterialForTesting(b->public_key));
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind,
            EncapKind::kQueued);
  // b does not know the new key: the handshake cannot succeed.
  Pump();
  EXPECT_EQ(InterfaceDrops(*b, DropReason::kUnknownPeer), 1u);
}

TEST_F(EngineTest, CookieReplyUnderLoadThenMac2HandshakeCompletes) {
  EngineOptions loaded;
  loaded.under_load_handshakes_per_second = 4;
  Build({}, loaded);
  Connect();
  const Endpoint attacker = Ep("203.0.113.50:666");
  auto flood = [&] {
    std::vector<uint8_t> junk(kInitiationSize, 0x5a);
    StoreLe32(junk.data(), 1);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(Receive(*b, junk, attacker).drop, DropReason::kInvalidMac1);
    }
  };

  flood();
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  auto results = Deliver(*a);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].drop, DropReason::kCookieRequired);
  ASSERT_EQ(b->sink.outbox.size(), 1u);
  EXPECT_EQ(TypeOf(b->sink.outbox[0].data), MessageType::kCookieReply);
  EXPECT_EQ(b->sink.outbox[0].to.remote, a->address);
  results = Deliver(*b);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].kind, Kind::kHandshake);  // a took the cookie

  // a retransmits after REKEY_TIMEOUT, now with mac2; b is still under load.
  while (a->sink.outbox.empty()) Advance(kTickInterval, /*pump=*/false);
  flood();
  results = Deliver(*a);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].kind, Kind::kHandshake);
  Pump();
  ASSERT_EQ(b->delivered.size(), 1u);
  EXPECT_EQ(InterfaceDrops(*b, DropReason::kCookieRequired), 1u);
}

TEST_F(EngineTest, UnderLoadInitiationsBeyondTheRateAreLimited) {
  EngineOptions loaded;
  loaded.under_load_handshakes_per_second = 0;  // always under load
  loaded.initiation_burst_per_source = 1;
  loaded.initiations_per_second_per_source = 1;
  Build({}, loaded);
  Connect();
  // Obtain a cookie so a's initiations carry mac2.
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  EXPECT_EQ(Deliver(*a).at(0).drop, DropReason::kCookieRequired);
  Deliver(*b);
  while (a->sink.outbox.empty()) Advance(kTickInterval, /*pump=*/false);
  const std::vector<uint8_t> with_mac2 = a->sink.outbox[0].data;
  EXPECT_EQ(Deliver(*a).at(0).kind, Kind::kHandshake);
  // The same source again at once: over its rate.
  EXPECT_EQ(Receive(*b, with_mac2, a->address).drop, DropReason::kRateLimited);
}

TEST_F(EngineTest, UnderLoadAFloodFromOneSourceIsShedWithoutStarvingOthers) {
  EngineOptions loaded;
  loaded.under_load_handshakes_per_second = 0;  // always under load
  loaded.handshake_burst_per_source_under_load = 3;
  loaded.handshakes_per_second_per_source_under_load = 1;
  Build({}, loaded);
  Connect();
  // a's initiation (valid mac1), replayed from one source 100 times at once.
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  ASSERT_EQ(a->sink.outbox.size(), 1u);
  const std::vector<uint8_t> initiation = a->sink.outbox[0].data;
  a->sink.outbox.clear();
  const Endpoint flooder = *Endpoint::Parse("192.0.2.66:4000");
  size_t cookie_required = 0, shed = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = Receive(*b, initiation, flooder);
    cookie_required += r.drop == DropReason::kCookieRequired;
    shed += r.drop == DropReason::kRateLimited;
  }
  EXPECT_EQ(cookie_required, 3u);  // the burst, then nothing costs crypto
  EXPECT_EQ(shed, 97u);
  EXPECT_EQ(b->sink.outbox.size(), 3u);  // three cookie replies, no more
  // Another source is still answered: the flood did not use up its budget.
  EXPECT_EQ(Receive(*b, initiation, a->address).drop,
            DropReason::kCookieRequired);
}

// Issue 7: the pre-crypto shedding once kept a table of sources that refused
// new ones when full, so junk from more than 65,536 /64s (one IPv6 /48, or
// spoofing) locked every new peer out of handshakes. However many sources a
// flood uses, a real peer still gets its cookie reply and completes.
TEST_F(EngineTest, FloodFromManySlash64sDoesNotLockARealPeerOut) {
  constexpr uint32_t kSources = 100'000;
  uint32_t next_source = 0;
  // One junk initiation from each of kSources new /64s (2001:db8::/32).
  auto flood = [&] {
    std::vector<uint8_t> junk(kInitiationSize, 0x5a);
    StoreLe32(junk.data(), 1);
    std::array<uint8_t, 16> address{0x20, 0x01, 0x0d, 0xb8};
    address[15] = 1;
    size_t shed = 0;
    for (uint32_t i = 0; i < kSources; ++i, ++next_source) {
      StoreBe32(address.data() + 4, next_source);
      const Endpoint from(IpAddress::V6(address.data()), 4444);
      shed += Receive(*b, junk, from).drop == DropReason::kRateLimited;
    }
    b->sink.outbox.clear();
    b->results.clear();
    return shed;
  };
  EXPECT_EQ(flood(), 0u);  // one message per source is never over its rate

  // a's initiation: under load, so b answers with a cookie reply.
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  auto results = Deliver(*a);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].drop, DropReason::kCookieRequired);
  ASSERT_EQ(b->sink.outbox.size(), 1u);
  EXPECT_EQ(TypeOf(b->sink.outbox[0].data), MessageType::kCookieReply);
  results = Deliver(*b);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].kind, Kind::kHandshake);  // a took the cookie

  // a retries after REKEY_TIMEOUT with mac2, into a fresh flood.
  while (a->sink.outbox.empty()) Advance(kTickInterval, /*pump=*/false);
  EXPECT_EQ(flood(), 0u);
  results = Deliver(*a);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].kind, Kind::kHandshake);
  Pump();
  ASSERT_EQ(b->delivered.size(), 1u);
}

}  // namespace
}  // namespace zl::wg
