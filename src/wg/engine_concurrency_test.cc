// wg::Engine called from several threads at once (engine.h, "Thread
// safety"): one peer's transport data sealed and opened on two threads,
// replays racing for the same counter, the data path running while the
// keypair rotates, expires, the peer is removed or re-keyed and Tick runs,
// and the handshakes of many peers on two threads. What must hold: no packet
// lost or delivered twice, every counter used once, every outcome counted;
// and (under TSan and ASan) no race and no use after free.
//
// Loops are bounded in count; waits for the other thread are bounded in
// time. Time is a fixed `Now` each step, never a clock.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "wg/engine.h"
#include "wg/engine_test_util.h"
#include "wg/messages.h"

namespace zl::wg {
namespace {

using harness::Ipv4Packet;
using harness::LockedRng;
using harness::Prefix;
using DecapKind = DecapsulateResult::Kind;
using EncapKind = EncapsulateResult::Kind;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kPerThread = 2000;

// A packet from 10.0.0.1 to 10.0.0.2 that carries `tag` at the start of its
// payload, to tell delivered packets apart.
Bytes TaggedPacket(uint32_t tag) {
  Bytes p = Ipv4Packet("10.0.0.1", "10.0.0.2", 40);
  StoreBe32(&p[20], tag);
  return p;
}
uint32_t TagOf(ByteSpan packet) { return LoadBe32(packet.data() + 20); }
uint64_t CounterOf(const Bytes& datagram) {
  return LoadLe64(datagram.data() + 8);  // type, receiver index, counter
}

// Runs body(0) here and body(1) on another thread, and waits for both.
template <typename Body>
void OnTwoThreads(Body body) {
  std::thread other([&body] { body(1); });
  body(0);
  other.join();
}

// Waits (yielding, at most 20 s) until `done()`.
template <typename Pred>
bool WaitUntil(Pred done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// A sink several threads may share: keeps what is sent to each peer until
// the test takes it.
class SharedSink final : public PacketSink {
 public:
  void SendToNetwork(PeerId peer, const Path&, ByteSpan data) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_[peer].emplace_back(data.begin(), data.end());
  }
  void WriteToTun(PeerId, ByteSpan) override {}
  std::vector<Bytes> Take(PeerId peer) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Bytes> out;
    out.swap(sent_[peer]);
    return out;
  }
  std::vector<Bytes> TakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Bytes> out;
    for (auto& [peer, datagrams] : sent_) {
      for (Bytes& d : datagrams) out.push_back(std::move(d));
    }
    sent_.clear();
    return out;
  }

 private:
  std::mutex mu_;
  std::map<PeerId, std::vector<Bytes>> sent_;
};

// What the receiving threads saw.
struct Tally {
  std::vector<uint32_t> delivered;  // tags
  std::map<DropReason, uint64_t> drops;
  uint64_t other = 0;  // neither delivered nor dropped
};

class EngineConcurrencyTest : public harness::EnginePairTest {
 protected:
  EngineConcurrencyTest() {
    Connect();
    Establish();
  }

  Path FromA() const { return Path{a->address, b->address.address()}; }

  // `n` datagrams of a's current keypair at `t` (default now()), tags
  // first_tag, first_tag + 1...
  std::vector<Bytes> MakeDatagrams(uint32_t n, uint32_t first_tag = 0,
                                   std::optional<Now> t = std::nullopt) {
    std::vector<Bytes> out;
    for (uint32_t i = 0; i < n; ++i) {
      const Bytes packet = TaggedPacket(first_tag + i);
      Bytes datagram(packet.size() + 64);
      const EncapsulateResult r = a->engine->Encapsulate(
          ByteSpan(packet), MutableByteSpan(datagram), t.value_or(now()),
          a_sink);
      EXPECT_EQ(r.kind, EncapKind::kSent);
      datagram.resize(r.length);
      out.push_back(std::move(datagram));
    }
    return out;
  }

  // b opens a copy of `datagram` at `t` and records the outcome.
  void Open(const Bytes& datagram, Now t, Tally& tally) {
    Bytes copy = datagram;
    const DecapsulateResult r =
        b->engine->Decapsulate(FromA(), MutableByteSpan(copy), t, b_sink);
    if (r.kind == DecapKind::kDeliver) {
      tally.delivered.push_back(TagOf(r.packet));
    } else if (r.kind == DecapKind::kDropped) {
      ++tally.drops[r.drop];
    } else {
      ++tally.other;
    }
  }

  // Carries what a and b sent (through a_sink, b_sink) to each other until
  // nothing is in flight.
  void Ferry(Now t) {
    for (int i = 0; i < 10; ++i) {
      std::vector<Bytes> from_a = a_sink.TakeAll();
      std::vector<Bytes> from_b = b_sink.TakeAll();
      if (from_a.empty() && from_b.empty()) return;
      for (Bytes& d : from_a)
        b->engine->Decapsulate(FromA(), MutableByteSpan(d), t, b_sink);
      for (Bytes& d : from_b) {
        a->engine->Decapsulate(Path{b->address, a->address.address()},
                               MutableByteSpan(d), t, a_sink);
      }
    }
  }

  SharedSink a_sink;
  SharedSink b_sink;
};

TEST_F(EngineConcurrencyTest, TwoThreadsSealingForOnePeerUseEveryCounterOnce) {
  const Now t = now();
  const uint64_t tx_before = a->engine->SnapshotPeer(b->public_key)->tx_bytes;
  std::vector<Bytes> sent[2];
  OnTwoThreads([&](int id) {
    for (uint32_t i = 0; i < kPerThread; ++i) {
      const Bytes packet = TaggedPacket(uint32_t(id) << 16 | i);
      Bytes out(packet.size() + 64);
      const EncapsulateResult r = a->engine->Encapsulate(
          ByteSpan(packet), MutableByteSpan(out), t, a_sink);
      if (r.kind != EncapKind::kSent) return;
      out.resize(r.length);
      sent[id].push_back(std::move(out));
    }
  });
  ASSERT_EQ(sent[0].size(), kPerThread);
  ASSERT_EQ(sent[1].size(), kPerThread);

  std::vector<Bytes> all = sent[0];
  all.insert(all.end(), sent[1].begin(), sent[1].end());
  std::set<uint64_t> counters;
  uint64_t bytes = 0;
  for (const Bytes& d : all) {
    counters.insert(CounterOf(d));
    bytes += d.size();
  }
  EXPECT_EQ(counters.size(), all.size());
  EXPECT_EQ(a->engine->SnapshotPeer(b->public_key)->tx_bytes - tx_before,
            bytes);

  // Every datagram opens on b, in any order (all within the replay window).
  std::shuffle(all.begin(), all.end(), std::mt19937(1));
  Tally tally;
  for (const Bytes& d : all) Open(d, t, tally);
  EXPECT_TRUE(tally.drops.empty());
  std::set<uint32_t> tags(tally.delivered.begin(), tally.delivered.end());
  EXPECT_EQ(tally.delivered.size(), all.size());
  EXPECT_EQ(tags.size(), all.size());
}

TEST_F(EngineConcurrencyTest,
       TwoThreadsOpeningOnePeerDeliverEachPacketOnceAndDropEachReplayOnce) {
  constexpr uint32_t kPackets = 2 * kPerThread;
  constexpr uint32_t kReplaysPerThread = 500;
  const std::vector<Bytes> datagrams = MakeDatagrams(kPackets);
  std::vector<uint32_t> order(kPackets);
  for (uint32_t i = 0; i < kPackets; ++i) order[i] = i;
  std::mt19937 shuffle(2);
  std::shuffle(order.begin(), order.end(), shuffle);
  // Each thread opens half; some of each half are offered to the other
  // thread too, so the two race for the same counter.
  std::vector<uint32_t> lists[2] = {
      {order.begin(), order.begin() + kPackets / 2},
      {order.begin() + kPackets / 2, order.end()}};
  const std::vector<uint32_t> halves[2] = {lists[0], lists[1]};
  for (int id = 0; id < 2; ++id) {
    lists[id].insert(lists[id].end(), halves[1 - id].begin(),
                     halves[1 - id].begin() + kReplaysPerThread);
    std::shuffle(lists[id].begin(), lists[id].end(), shuffle);
  }

  const Now t = now();
  Tally tallies[2];
  OnTwoThreads([&](int id) {
    for (uint32_t i : lists[id]) Open(datagrams[i], t, tallies[id]);
  });

  std::multiset<uint32_t> delivered;
  uint64_t replayed = 0;
  for (const Tally& tally : tallies) {
    delivered.insert(tally.delivered.begin(), tally.delivered.end());
    EXPECT_EQ(tally.other, 0u);
    for (const auto& [reason, count] : tally.drops) {
      EXPECT_EQ(reason, DropReason::kReplayedCounter);
      replayed += count;
    }
  }
  EXPECT_EQ(delivered.size(), size_t(kPackets));
  EXPECT_EQ(std::set<uint32_t>(delivered.begin(), delivered.end()).size(),
            size_t(kPackets));
  EXPECT_EQ(replayed, 2u * kReplaysPerThread);
  EXPECT_EQ(PeerDrops(*b, *a, DropReason::kReplayedCounter),
            2u * kReplaysPerThread);
}

// The receiving threads' loop for the races below: opens `datagrams` round
// after round (the first round delivers, later ones are replays) until
// `stop` or a bound, at the time `offset` says.
class DataPathUnderChange : public EngineConcurrencyTest {
 protected:
  // Replays cost no decryption (the replay pre-check), so a round is quick:
  // the bound is far off and `stop` ends the loop.
  static constexpr int kMaxRounds = 5000;

  Now At() const { return Now{base_.mono + offset.load(), base_.wall + offset.load()}; }

  // REQUIRES: `receivers` counted this call before its thread started.
  void Receive(const std::vector<Bytes>& datagrams, Tally& tally) {
    for (int round = 0; round < kMaxRounds && !stop.load(); ++round) {
      for (const Bytes& d : datagrams) {
        Open(d, At(), tally);
        progress.fetch_add(1);
      }
    }
    receivers.fetch_sub(1);
  }

  // Waits until the receivers have opened `more` datagrams since the call
  // (or are done).
  void LetReceiversRun(uint64_t more) {
    const uint64_t target = progress.load() + more;
    EXPECT_TRUE(WaitUntil(
        [&] { return progress.load() >= target || receivers.load() == 0; }));
  }

  // Each packet was delivered at most once; every outcome is one of
  // `allowed`. Returns how many drops each reason had.
  static std::map<DropReason, uint64_t> ExpectSane(
      const Tally* tallies, const std::set<DropReason>& allowed) {
    std::map<DropReason, uint64_t> drops;
    std::set<uint32_t> seen;
    for (int id = 0; id < 2; ++id) {
      for (uint32_t tag : tallies[id].delivered) {
        EXPECT_TRUE(seen.insert(tag).second) << "delivered twice: " << tag;
      }
      EXPECT_EQ(tallies[id].other, 0u);
      for (const auto& [reason, count] : tallies[id].drops) {
        EXPECT_TRUE(allowed.contains(reason)) << DropReasonName(reason);
        drops[reason] += count;
      }
    }
    return drops;
  }

  const Now base_ = now();
  std::atomic<Duration> offset{Duration(0)};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> progress{0};
  std::atomic<int> receivers{0};  // Receive calls not yet returned
};

TEST_F(DataPathUnderChange, OpeningWhileTheKeypairRotatesAndExpires) {
  const std::vector<Bytes> datagrams = MakeDatagrams(400);
  Tally tallies[2];
  receivers.store(1);
  std::thread receiver([&] { Receive(datagrams, tallies[1]); });
  bool rotated = true;
  {
    // This thread is the second receiver for the first round, then drives
    // three rekeys (a is the initiator: past REKEY_AFTER_TIME its next
    // packet starts one) with b's Tick, while the other thread keeps
    // opening the first keypair's datagrams.
    Tally& mine = tallies[0];
    for (const Bytes& d : datagrams) Open(d, At(), mine);
    for (int rekey = 0; rekey < 3; ++rekey) {
      LetReceiversRun(200);
      offset.store(offset.load() + kRekeyAfterTime + std::chrono::seconds(1));
      LetReceiversRun(200);  // the second time, the first keypair expired
      const Now t = At();
      const Bytes packet = TaggedPacket(0xffff0000u + uint32_t(rekey));
      Bytes out(packet.size() + 64);
      a->engine->Encapsulate(ByteSpan(packet), MutableByteSpan(out), t, a_sink);
      Ferry(t);
      b->engine->Tick(t, b_sink);
      Ferry(t);
      rotated &= b->engine->SnapshotPeer(a->public_key)->last_handshake ==
                 t.wall;
    }
  }
  LetReceiversRun(400);
  stop.store(true);
  receiver.join();

  EXPECT_TRUE(rotated);
  auto drops = ExpectSane(tallies, {DropReason::kReplayedCounter,
                                    DropReason::kKeypairExpired,
                                    DropReason::kUnknownIndex});
  // The receivers ran through each stage: window, expiry, keypair gone.
  EXPECT_GT(drops[DropReason::kReplayedCounter], 0u);
  EXPECT_GT(drops[DropReason::kKeypairExpired], 0u);
  EXPECT_GT(drops[DropReason::kUnknownIndex], 0u);
  // The session that rotated under the data path works.
  const std::vector<Bytes> fresh = MakeDatagrams(1, 0xfffe0000u, At());
  Tally after;
  Open(fresh[0], At(), after);
  EXPECT_EQ(after.delivered.size(), 1u);
}

TEST_F(DataPathUnderChange, DataPathWhileThePeerIsRemovedReAddedAndReKeyed) {
  const std::vector<Bytes> datagrams = MakeDatagrams(400);
  Tally tallies[2];
  std::atomic<uint64_t> sent{0}, not_sent{0};
  receivers.store(1);
  // One thread opens, one seals (b to a), this one changes the
  // configuration and ticks.
  std::thread receiver([&] { Receive(datagrams, tallies[0]); });
  std::thread sender([&] {
    const Bytes packet = Ipv4Packet("10.0.0.2", "10.0.0.1", 100);
    Bytes out(packet.size() + 64);
    for (int i = 0; i < 200 * 400 && !stop.load(); ++i) {
      const EncapsulateResult r = b->engine->Encapsulate(
          ByteSpan(packet), MutableByteSpan(out), At(), b_sink);
      (r.kind == EncapKind::kSent ? sent : not_sent).fetch_add(1);
    }
  });
  auto tick = [&] {
    for (int i = 0; i < 20; ++i) {
      offset.store(offset.load() + kTickInterval);
      b->engine->Tick(At(), b_sink);
    }
  };
  LetReceiversRun(200);
  tick();
  b->engine->RemovePeer(a->public_key);
  LetReceiversRun(200);
  tick();
  PeerUpdate again;
  again.public_key = a->public_key;
  again.endpoint = a->address;
  again.allowed_ips = {Prefix("10.0.0.1/32")};
  ASSERT_TRUE(b->engine->ApplyPeerUpdate(again, At(), b_sink).ok());
  LetReceiversRun(200);
  tick();
  ASSERT_TRUE(b->engine
                  ->SetPrivateKey(crypto::GeneratePrivateKey(b->rng), At())
                  .ok());
  LetReceiversRun(200);
  stop.store(true);
  receiver.join();
  sender.join();

  auto drops = ExpectSane(
      tallies, {DropReason::kReplayedCounter, DropReason::kUnknownIndex});
  EXPECT_GT(drops[DropReason::kUnknownIndex], 0u);
  EXPECT_GT(sent.load() + not_sent.load(), 0u);
  EXPECT_EQ(b->engine->peer_count(), 1u);
  // The removal erased every key: once the pool's contexts are back and a
  // tick ran, none holds one.
  b->engine->Tick(At(), b_sink);
  EXPECT_FALSE(b->engine->AeadContextHoldsKeyForTesting());
}

// Handshakes of many initiators with one responder, on two threads: each
// thread drives its half of the initiators through complete handshakes
// (initiation, response, first data packet) twice.
TEST(EngineConcurrentHandshakeTest, ManyPeersHandshakeOnTwoThreads) {
  constexpr int kPeers = 16;
  constexpr int kRounds = 2;
  struct Initiator {
    explicit Initiator(int k)
        : rng(100 + uint64_t(k)),
          key(crypto::GeneratePrivateKey(rng)),
          pub(crypto::DerivePublicKey(key).value()),
          engine(EngineOptions{}, rng),
          address(IpAddress::V4(0xc6336400u + uint32_t(k)), 51820),
          inner(IpAddress::V4(0x0a010000u + uint32_t(k))) {}
    LockedRng rng;
    crypto::PrivateKey key;
    crypto::PublicKey pub;
    Engine engine;
    SharedSink sink;
    Endpoint address;
    IpAddress inner;
    PeerId id_at_responder = kNoPeer;
  };

  FakeClock clock;
  LockedRng rng(7);
  const crypto::PrivateKey responder_key = crypto::GeneratePrivateKey(rng);
  const crypto::PublicKey responder_pub =
      crypto::DerivePublicKey(responder_key).value();
  const Endpoint responder_address(IpAddress::V4(0xc0000202), 51820);
  EngineOptions options;
  options.under_load_handshakes_per_second = 1'000'000;
  Engine responder(options, rng);
  SharedSink responder_sink;
  ASSERT_TRUE(responder.SetPrivateKey(responder_key, clock.Read()).ok());

  std::vector<std::unique_ptr<Initiator>> initiators;
  for (int k = 0; k < kPeers; ++k) {
    auto& in = *initiators.emplace_back(std::make_unique<Initiator>(k));
    ASSERT_TRUE(in.engine.SetPrivateKey(in.key, clock.Read()).ok());
    PeerUpdate to_responder;
    to_responder.public_key = responder_pub;
    to_responder.endpoint = responder_address;
    to_responder.allowed_ips = {Prefix("10.0.0.2/32")};
    ASSERT_TRUE(
        in.engine.ApplyPeerUpdate(to_responder, clock.Read(), in.sink).ok());
    PeerUpdate to_initiator;
    to_initiator.public_key = in.pub;
    to_initiator.allowed_ips = {Cidr(in.inner, 32)};
    ASSERT_TRUE(responder
                    .ApplyPeerUpdate(to_initiator, clock.Read(), responder_sink)
                    .ok());
    in.id_at_responder = responder.FindPeerId(in.pub);
  }

  std::atomic<int> delivered{0};
  std::atomic<int> failed_steps{0};
  OnTwoThreads([&](int id) {
    for (int round = 0; round < kRounds; ++round) {
      // Past REJECT_AFTER_TIME: each round needs a new handshake.
      Now t = clock.Read();
      t.mono += round * (kRejectAfterTime + std::chrono::seconds(1));
      t.wall += round * (kRejectAfterTime + std::chrono::seconds(1));
      for (int k = id; k < kPeers; k += 2) {
        Initiator& in = *initiators[size_t(k)];
        Bytes packet = Ipv4Packet("10.0.0.1", "10.0.0.2", 40);
        std::copy_n(in.inner.bytes().begin(), 4, &packet[12]);
        packet[10] = packet[11] = 0;
        StoreBe16(&packet[10], harness::Ipv4HeaderChecksum(packet.data(), 20));
        Bytes out(packet.size() + 64);
        const bool queued =
            in.engine
                .Encapsulate(ByteSpan(packet), MutableByteSpan(out), t, in.sink)
                .kind == EncapKind::kQueued;
        std::vector<Bytes> initiation = in.sink.TakeAll();
        if (!queued || initiation.size() != 1) {
          failed_steps.fetch_add(1);
          continue;
        }
        const Path from_initiator{in.address, std::nullopt};
        if (responder
                .Decapsulate(from_initiator, MutableByteSpan(initiation[0]), t,
                             responder_sink)
                .kind != DecapKind::kHandshake) {
          failed_steps.fetch_add(1);
          continue;
        }
        std::vector<Bytes> response = responder_sink.Take(in.id_at_responder);
        if (response.size() != 1 ||
            in.engine
                    .Decapsulate(Path{responder_address, std::nullopt},
                                 MutableByteSpan(response[0]), t, in.sink)
                    .kind != DecapKind::kHandshake) {
          failed_steps.fetch_add(1);
          continue;
        }
        std::vector<Bytes> data = in.sink.TakeAll();  // the staged packet
        if (data.size() == 1 &&
            responder
                    .Decapsulate(from_initiator, MutableByteSpan(data[0]), t,
                                 responder_sink)
                    .kind == DecapKind::kDeliver) {
          delivered.fetch_add(1);
        } else {
          failed_steps.fetch_add(1);
        }
      }
    }
  });
  EXPECT_EQ(failed_steps.load(), 0);
  EXPECT_EQ(delivered.load(), kPeers * kRounds);
  for (const PeerSnapshot& s : responder.Snapshot()) {
    EXPECT_TRUE(s.last_handshake.has_value());
    for (uint64_t d : s.drops) EXPECT_EQ(d, 0u);
  }
}

}  // namespace
}  // namespace zl::wg
