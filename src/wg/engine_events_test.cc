// wg::Engine's events (PacketSink::OnEvent), which the device turns into
// verbose log lines: each handshake step on both sides, retries and giving
// up, keepalives, silence, key zeroing, cookie replies; none per data packet.

#include <gtest/gtest.h>

#include <vector>

#include "wg/engine.h"
#include "wg/engine_test_util.h"
#include "wg/timers.h"

namespace zl::wg {
namespace {

using harness::Ipv4Packet;
using EncapKind = EncapsulateResult::Kind;
using E = EngineEvent;
using std::chrono::seconds;

class EngineEventsTest : public harness::EnginePairTest {
 protected:
  EngineEventsTest() { Connect(); }

  // Every recorded event of `n` is about its one peer.
  void ExpectAllAboutThePeer(const harness::Node& n) {
    const PeerId id = n.engine->FindPeerId(Other(n).public_key);
    ASSERT_NE(id, kNoPeer);
    for (const EngineEventInfo& e : n.sink.events) {
      EXPECT_EQ(e.peer, id) << EngineEventName(e.event);
    }
  }
};

TEST_F(EngineEventsTest, HandshakeReportsEachStepOnBothSides) {
  Establish();
  EXPECT_EQ(a->sink.EventKinds(),
            (std::vector<E>{E::kHandshakeInitiationSent, E::kHandshakeResponseReceived,
                            E::kKeypairCreated, E::kHandshakeCompleted}));
  EXPECT_EQ(a->sink.events.at(0).attempt, 1u);
  // The responder completes on the first transport message (a's data).
  EXPECT_EQ(b->sink.EventKinds(),
            (std::vector<E>{E::kHandshakeInitiationReceived, E::kHandshakeResponseSent,
                            E::kKeypairCreated, E::kHandshakeCompleted}));
  ExpectAllAboutThePeer(*a);
  ExpectAllAboutThePeer(*b);
}

TEST_F(EngineEventsTest, DataPathReportsNothing) {
  Establish();
  a->sink.events.clear();
  b->sink.events.clear();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 100), now()).kind, EncapKind::kSent);
    ASSERT_EQ(b->Send(Ipv4Packet("10.0.0.2", "10.0.0.1", 100), now()).kind, EncapKind::kSent);
    Pump();
  }
  EXPECT_EQ(b->delivered.size(), 51u);
  EXPECT_TRUE(a->sink.events.empty());
  EXPECT_TRUE(b->sink.events.empty());
}

TEST_F(EngineEventsTest, RetriesCountTheirAttemptsThenGiveUp) {
  ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind, EncapKind::kQueued);
  for (int i = 0; i < 1300; ++i) {  // 130 s, everything lost
    Advance(kTickInterval, /*pump=*/false);
    Lose();
  }
  std::vector<uint32_t> sent, retries, given_up;
  for (const EngineEventInfo& e : a->sink.events) {
    if (e.event == E::kHandshakeInitiationSent) sent.push_back(e.attempt);
    if (e.event == E::kHandshakeRetry) retries.push_back(e.attempt);
    if (e.event == E::kHandshakeGivenUp) given_up.push_back(e.attempt);
  }
  // 1, 2, ..., kMaxTimerHandshakes + 2 initiations, as wireguard-go counts.
  std::vector<uint32_t> all(kMaxTimerHandshakes + 2);
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint32_t(i + 1);
  EXPECT_EQ(sent, all);
  EXPECT_EQ(retries, std::vector<uint32_t>(all.begin() + 1, all.end()));
  EXPECT_EQ(given_up, std::vector<uint32_t>{kMaxTimerHandshakes + 2});
  EXPECT_EQ(a->sink.events.back().event, E::kHandshakeGivenUp);
  ExpectAllAboutThePeer(*a);
}

TEST_F(EngineEventsTest, PassiveKeepaliveIsReported) {
  Establish();
  b->sink.events.clear();
  Advance(kKeepaliveTimeout + seconds(1));
  EXPECT_EQ(b->sink.EventKinds(), std::vector<E>{E::kKeepaliveSent});
  ExpectAllAboutThePeer(*b);
}

TEST_F(EngineEventsTest, SilenceAfterSendingStartsAReportedHandshake) {
  Establish();
  Advance(seconds(30));  // keepalives done; quiet now
  a->sink.events.clear();
  ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 20), now()).kind, EncapKind::kSent);
  for (int i = 0; i < 200 && a->sink.events.empty(); ++i) {  // at most 20 s
    Advance(kTickInterval, /*pump=*/false);
    Lose();
  }
  EXPECT_EQ(a->sink.EventKinds(),
            (std::vector<E>{E::kHandshakeAfterSilence, E::kHandshakeInitiationSent}));
}

TEST_F(EngineEventsTest, KeysZeroedIsReportedOncePerSide) {
  Establish();
  Advance(kZeroKeysAfter + seconds(1));
  EXPECT_EQ(a->sink.CountEvents(E::kKeysZeroed), 1u);
  EXPECT_EQ(b->sink.CountEvents(E::kKeysZeroed), 1u);
}

TEST_F(EngineEventsTest, CookieReplySentAndReceivedAreReported) {
  EngineOptions loaded;
  loaded.under_load_handshakes_per_second = 0;  // always under load
  Build({}, loaded);
  Connect();
  a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now());
  Deliver(*a);
  ASSERT_EQ(b->sink.EventKinds(), std::vector<E>{E::kCookieReplySent});
  EXPECT_EQ(b->sink.events[0].peer, kNoPeer);  // not authenticated: nobody's
  EXPECT_EQ(b->sink.events[0].remote, a->address);
  Deliver(*b);
  EXPECT_EQ(a->sink.EventKinds().back(), E::kCookieReplyReceived);
  ExpectAllAboutThePeer(*a);
}

TEST_F(EngineEventsTest, FindPeerIdKnowsOnlyConfiguredPeers) {
  EXPECT_NE(a->engine->FindPeerId(b->public_key), kNoPeer);
  EXPECT_EQ(a->engine->FindPeerId(a->public_key), kNoPeer);
  a->engine->RemovePeer(b->public_key);
  EXPECT_EQ(a->engine->FindPeerId(b->public_key), kNoPeer);
}

}  // namespace
}  // namespace zl::wg
