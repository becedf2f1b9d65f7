// wg::Engine timers (whitepaper §6): keepalives, rekeying, expiry,
// retransmission, key zeroing, persistent keepalive. Time only moves through
// the FakeClock; Tick() runs every kTickInterval as the device would.

#include <gtest/gtest.h>

#include <vector>

#include "crypto/blake2s.h"
#include "wg/engine.h"
#include "wg/engine_test_util.h"
#include "wg/timers.h"

namespace zl::wg {
namespace {

using harness::Ipv4Packet;
using Kind = DecapsulateResult::Kind;
using EncapKind = EncapsulateResult::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

class EngineTimersTest : public harness::EnginePairTest {
 protected:
  EngineTimersTest() { Connect(); }

  std::vector<MonoTime> InitiationTimes(const harness::Node& n) const {
    std::vector<MonoTime> times;
    for (const auto& d : n.sink.log) {
      if (harness::TypeOf(d.data) == MessageType::kInitiation)
        times.push_back(d.at);
    }
    return times;
  }
};

TEST_F(EngineTimersTest, KeepaliveSentAfterKeepaliveTimeoutWhenOnlyReceiving) {
  Establish();
  Advance(kKeepaliveTimeout - milliseconds(100));
  EXPECT_EQ(b->CountKeepalivesSent(), 0u);
  Advance(milliseconds(200));
  EXPECT_EQ(b->CountKeepalivesSent(), 1u);
  EXPECT_EQ(a->results.back().kind, Kind::kKeepalive);
  // Nothing more was received, so nothing more is owed.
  Advance(3 * kKeepaliveTimeout);
  EXPECT_EQ(b->CountKeepalivesSent(), 1u);
  EXPECT_EQ(a->CountKeepalivesSent(), 0u);
}

TEST_F(EngineTimersTest, NoKeepaliveWhenDataGoesBackAnyway) {
  Establish();
  Advance(seconds(5));
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 20), now()).kind,
            EncapKind::kSent);
  Pump();
  Advance(kKeepaliveTimeout);
  EXPECT_EQ(b->CountKeepalivesSent(), 0u);
  EXPECT_EQ(a->CountKeepalivesSent(), 1u);  // a received b's data and owed one
}

TEST_F(EngineTimersTest, NewHandshakeWhenSentDataIsNeverAnswered) {
  Establish();
  Advance(seconds(30));  // b's passive keepalive went through; quiet now
  ASSERT_EQ(a->CountSent(MessageType::kInitiation), 1u);
  const MonoTime sent = now().mono;
  ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind,
            EncapKind::kSent);
  // b hears it but everything b sends is lost.
  Deliver(*a);
  while (a->CountSent(MessageType::kInitiation) < 2 &&
         now().mono - sent < seconds(30)) {
    Advance(kTickInterval, /*pump=*/false);
    b->sink.outbox.clear();
    a->sink.outbox.clear();
  }
  const Duration waited = now().mono - sent;
  EXPECT_GE(waited, kKeepaliveTimeout + kRekeyTimeout);
  EXPECT_LE(waited, kKeepaliveTimeout + kRekeyTimeout + kRekeyTimeoutJitterMax +
                        kTickInterval);
}

TEST_F(EngineTimersTest, InitiatorRekeysAfterRekeyAfterTime) {
  Establish();
  Advance(kRekeyAfterTime - seconds(1));
  EXPECT_EQ(SendAToB().kind, Kind::kDeliver);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 1u);
  Advance(seconds(2));
  // Still sent on the old keypair, and a rekey starts.
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind,
            EncapKind::kSent);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 2u);
  Pump();
  // Past REJECT_AFTER_TIME of the first keypair, data still goes at once.
  Advance(kRejectAfterTime - kRekeyAfterTime);
  EXPECT_EQ(SendAToB().kind, Kind::kDeliver);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 2u);
}

TEST_F(EngineTimersTest, ResponderDoesNotRekeyOnTime) {
  Establish();
  Advance(kRekeyAfterTime + seconds(1));
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 20), now()).kind,
            EncapKind::kSent);
  EXPECT_EQ(b->CountSent(MessageType::kInitiation), 0u);
}

TEST_F(EngineTimersTest, InitiatorRekeysWhenReceivingNearRejectAfterTime) {
  Establish();
  Advance(kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout + seconds(1));
  ASSERT_EQ(a->CountSent(MessageType::kInitiation), 1u);
  // Only b sends; a, the initiator, must renew before the keypair dies.
  EXPECT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 20), now()).kind,
            EncapKind::kSent);
  Deliver(*b);
  EXPECT_EQ(a->delivered.size(), 1u);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 2u);
  // Only once per keypair.
  b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 20), now());
  Deliver(*b);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 2u);
}

TEST_F(EngineTimersTest, RekeyAfterRekeyAfterMessages) {
  Establish();
  Advance(kRekeyTimeout);  // handshakes are sent at most once per REKEY_TIMEOUT
  a->engine->SetSendCounterForTesting(b->public_key, kRekeyAfterMessages + 1);
  EXPECT_EQ(SendAToB().kind, Kind::kDeliver);  // still sent on the old keypair
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 2u);
  Pump();
  const size_t delivered = b->delivered.size();
  EXPECT_EQ(SendAToB().kind, Kind::kDeliver);
  EXPECT_EQ(b->delivered.size(), delivered + 1);
  // The new keypair starts its counter afresh.
  EXPECT_EQ(LoadLe64(a->last_sent.data() + 8),
            1u);  // 0 went with the keepalive/staged flush
}

TEST_F(EngineTimersTest, KeypairRejectedAfterRejectAfterTime) {
  Establish();
  ASSERT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 20), now()).kind,
            EncapKind::kSent);
  const std::vector<uint8_t> late = b->last_sent;
  Pump();  // delivered (and answered by a keepalive), so nobody is left waiting
  Advance(kRejectAfterTime + seconds(1));
  ASSERT_EQ(a->CountSent(MessageType::kInitiation) +
                b->CountSent(MessageType::kInitiation),
            1u);
  // The same packet once more, far too late: the keypair is dead (the expiry
  // is checked before the counter).
  EXPECT_EQ(Receive(*a, late, b->address).drop, DropReason::kKeypairExpired);
  EXPECT_EQ(PeerDrops(*a, *b, DropReason::kKeypairExpired), 1u);
  // Nothing is sent on it either: packets wait for a new handshake.
  const size_t initiations = a->CountSent(MessageType::kInitiation);
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind,
            EncapKind::kQueued);
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), initiations + 1);
  Pump();
  EXPECT_EQ(b->delivered.size(), 2u);
}

TEST_F(EngineTimersTest, PreviousKeypairStillAcceptsPacketsInFlight) {
  Establish();
  Advance(kRekeyAfterTime + seconds(1));
  ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind,
            EncapKind::kSent);
  // The data on the old keypair is overtaken by the new handshake.
  std::vector<harness::Datagram> in_flight;
  in_flight.swap(a->sink.outbox);
  ASSERT_EQ(in_flight.size(),
            2u);  // the initiation (made during the call), the data
  ASSERT_EQ(harness::TypeOf(in_flight[0].data), MessageType::kInitiation);
  Receive(*b, in_flight[0].data, a->address);
  Pump();
  EXPECT_EQ(Receive(*b, in_flight[1].data, a->address).kind, Kind::kDeliver);
}

TEST_F(EngineTimersTest, LostResponsesRetransmitThenGiveUp) {
  const MonoTime start = now().mono;
  ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20, 0x01), now()).kind,
            EncapKind::kQueued);
  for (int i = 0; i < 1300; ++i) {  // 130 s
    Advance(kTickInterval, /*pump=*/false);
    Lose();
  }
  const std::vector<MonoTime> times = InitiationTimes(*a);
  // One initiation, then one every REKEY_TIMEOUT + jitter...
  ASSERT_EQ(times.size(), size_t(kMaxTimerHandshakes) + 2);
  for (size_t i = 1; i < times.size(); ++i) {
    const Duration gap = times[i] - times[i - 1];
    EXPECT_GE(gap, kRekeyTimeout) << i;
    EXPECT_LE(gap, kRekeyTimeout + kRekeyTimeoutJitterMax + kTickInterval) << i;
  }
  // ...for REKEY_ATTEMPT_TIME, then silence.
  EXPECT_GE(times.back() - start, kRekeyAttemptTime);
  Advance(seconds(300), /*pump=*/false);
  EXPECT_EQ(InitiationTimes(*a).size(), times.size());

  // The staged packet was dropped: a new handshake carries only new data.
  Lose();
  const auto fresh = Ipv4Packet("10.0.0.1", "10.0.0.2", 20, 0x02);
  EXPECT_EQ(a->Send(fresh, now()).kind, EncapKind::kQueued);
  Pump();
  ASSERT_EQ(b->delivered.size(), 1u);
  EXPECT_EQ(b->delivered[0], fresh);
}

TEST_F(EngineTimersTest, KeysZeroedAfterThreeTimesRejectAfterTimeIdle) {
  Establish();
  EXPECT_TRUE(b->engine->AeadContextHoldsKeyForTesting());  // the hook sees it
  EXPECT_TRUE(a->engine->HasKeyMaterialForTesting(b->public_key));
  EXPECT_TRUE(b->engine->HasKeyMaterialForTesting(a->public_key));
  Advance(kZeroKeysAfter - seconds(1));
  EXPECT_TRUE(a->engine->HasKeyMaterialForTesting(b->public_key));
  EXPECT_TRUE(b->engine->HasKeyMaterialForTesting(a->public_key));
  Advance(seconds(2));
  EXPECT_FALSE(a->engine->HasKeyMaterialForTesting(b->public_key));
  EXPECT_FALSE(b->engine->HasKeyMaterialForTesting(a->public_key));
  // Nor do OpenSSL's contexts keep a copy: the transport AEAD's, and the
  // HMAC/BLAKE2s-MAC contexts the handshakes used (one thread ran both).
  EXPECT_FALSE(a->engine->AeadContextHoldsKeyForTesting());
  EXPECT_FALSE(b->engine->AeadContextHoldsKeyForTesting());
  EXPECT_FALSE(crypto::internal::MacContextsHoldKeyForTesting());
  // The peers are still configured and can start over.
  EXPECT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind,
            EncapKind::kQueued);
  Pump();
  EXPECT_EQ(b->delivered.size(), 2u);
}

TEST_F(EngineTimersTest, PersistentKeepaliveSentOnSchedule) {
  constexpr uint16_t kInterval = 25;
  PeerUpdate u;
  u.public_key = b->public_key;
  u.persistent_keepalive_interval = kInterval;
  ASSERT_TRUE(a->engine->ApplyPeerUpdate(u, now(), a->sink).ok());
  // Turning it on sends a keepalive at once (here: a handshake, then it).
  EXPECT_EQ(a->CountSent(MessageType::kInitiation), 1u);
  Pump();
  ASSERT_EQ(a->CountKeepalivesSent(), 1u);
  EXPECT_EQ(b->results.back().kind, Kind::kKeepalive);

  const MonoTime start = now().mono;
  Advance(seconds(4 * kInterval) + seconds(1));
  std::vector<Duration> at;
  for (const auto& d : a->sink.log) {
    if (d.data.size() == kTransportMinSize && d.at > start)
      at.push_back(d.at - start);
  }
  ASSERT_EQ(at.size(), 4u);
  for (size_t i = 0; i < at.size(); ++i) {
    EXPECT_GE(at[i], seconds(kInterval * (i + 1))) << i;
    EXPECT_LE(at[i], seconds(kInterval * (i + 1)) + kTickInterval) << i;
  }
  EXPECT_EQ(b->CountKeepalivesSent(), 0u);  // b has no persistent keepalive
}

TEST_F(EngineTimersTest, PersistentKeepaliveWaitsForIdleness) {
  PeerUpdate u;
  u.public_key = b->public_key;
  u.persistent_keepalive_interval = 25;
  ASSERT_TRUE(a->engine->ApplyPeerUpdate(u, now(), a->sink).ok());
  Pump();
  const size_t keepalives = a->CountKeepalivesSent();
  for (int i = 0; i < 5; ++i) {
    Advance(seconds(20));
    EXPECT_EQ(SendAToB().kind, Kind::kDeliver);
  }
  EXPECT_EQ(a->CountKeepalivesSent(), keepalives);
}

TEST(EngineJitterTest, JitterStaysWithinTheWhitepapersBound) {
  Jitter jitter(42);
  Duration low = kRekeyTimeoutJitterMax, high = Duration::zero();
  for (int i = 0; i < 10000; ++i) {
    const Duration j = jitter.Next();
    low = std::min(low, j);
    high = std::max(high, j);
  }
  EXPECT_EQ(low, Duration::zero());
  EXPECT_EQ(high, kRekeyTimeoutJitterMax);
}

}  // namespace
}  // namespace zl::wg
