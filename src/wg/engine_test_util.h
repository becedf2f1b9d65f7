#pragma once
// Test harness for wg::Engine: two engines ("a" and "b") that know each
// other, a FakeClock, a LockedRng each (reproducible, and thread-safe as the
// engine needs when several threads call it), sinks that record what the
// engines send, and helpers that carry datagrams from one engine to the
// other, tick the timers and build real minimal IPv4/IPv6 packets.
//
// Nothing is delivered behind a test's back: datagrams wait in the sender's
// `outbox` until Deliver()/Pump()/Advance() carries them.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "base/ip.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "wg/engine.h"
#include "wg/messages.h"

namespace zl::wg::harness {

inline IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }
inline Cidr Prefix(const char* text) { return Cidr::Parse(text).value(); }
inline Endpoint Ep(const char* text) { return Endpoint::Parse(text).value(); }

// RFC 1071 checksum over an IPv4 header.
inline uint16_t Ipv4HeaderChecksum(const uint8_t* header, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < length; i += 2) sum += LoadBe16(header + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// A UDP-carrying IPv4 packet (RFC 791 header, no options) with `payload`
// bytes of a recognisable pattern.
inline std::vector<uint8_t> Ipv4Packet(const char* src, const char* dst,
                                       size_t payload, uint8_t fill = 0xab) {
  std::vector<uint8_t> p(20 + payload, fill);
  p[0] = 0x45;  // version 4, IHL 5
  p[1] = 0;
  StoreBe16(&p[2], uint16_t(p.size()));
  StoreBe16(&p[4], 0x1234);  // identification
  StoreBe16(&p[6], 0x4000);  // don't fragment
  p[8] = 64;                 // TTL
  p[9] = 17;                 // UDP
  StoreBe16(&p[10], 0);
  const IpAddress s = Ip(src), d = Ip(dst);
  std::copy_n(s.bytes().begin(), 4, &p[12]);
  std::copy_n(d.bytes().begin(), 4, &p[16]);
  StoreBe16(&p[10], Ipv4HeaderChecksum(p.data(), 20));
  return p;
}

// A UDP-carrying IPv6 packet (RFC 8200 fixed header).
inline std::vector<uint8_t> Ipv6Packet(const char* src, const char* dst,
                                       size_t payload, uint8_t fill = 0xcd) {
  std::vector<uint8_t> p(40 + payload, fill);
  StoreBe32(&p[0], 0x60000000);  // version 6, no traffic class or flow label
  StoreBe16(&p[4], uint16_t(payload));
  p[6] = 17;  // next header: UDP
  p[7] = 64;  // hop limit
  const IpAddress s = Ip(src), d = Ip(dst);
  std::copy_n(s.bytes().begin(), 16, &p[8]);
  std::copy_n(d.bytes().begin(), 16, &p[24]);
  return p;
}

// A DeterministicRng behind a mutex: the same stream, safe to share between
// the threads that call one engine (engine.h: the Rng must be thread-safe
// then).
class LockedRng final : public crypto::Rng {
 public:
  explicit LockedRng(uint64_t seed) : rng_(seed) {}
  void Fill(MutableByteSpan out) override {
    MutexLock lock(mu_);
    rng_.Fill(out);
  }

 private:
  Mutex mu_;
  crypto::DeterministicRng rng_;
};

inline std::optional<MessageType> TypeOf(const std::vector<uint8_t>& datagram) {
  return ClassifyMessage(ByteSpan(datagram));
}

struct Datagram {
  PeerId peer = kNoPeer;
  Path to;
  std::vector<uint8_t> data;
  MonoTime at;
};

class RecordingSink final : public PacketSink {
 public:
  explicit RecordingSink(const FakeClock& clock) : clock_(clock) {}
  void SendToNetwork(PeerId peer, const Path& to, ByteSpan data) override {
    Datagram d{peer, to, std::vector<uint8_t>(data.begin(), data.end()),
               clock_.Read().mono};
    outbox.push_back(d);
    log.push_back(std::move(d));
  }
  void WriteToTun(PeerId, ByteSpan packet) override {
    tun.emplace_back(packet.begin(), packet.end());
  }
  void OnEvent(const EngineEventInfo& info) override { events.push_back(info); }

  // The kinds of the events recorded so far, in order.
  std::vector<EngineEvent> EventKinds() const {
    std::vector<EngineEvent> kinds;
    for (const EngineEventInfo& e : events) kinds.push_back(e.event);
    return kinds;
  }
  size_t CountEvents(EngineEvent kind) const {
    size_t n = 0;
    for (const EngineEventInfo& e : events) n += e.event == kind;
    return n;
  }

  std::vector<Datagram> outbox;  // not yet delivered
  std::vector<Datagram> log;     // everything ever sent through the sink
  std::vector<std::vector<uint8_t>> tun;
  std::vector<EngineEventInfo> events;  // everything OnEvent was told

 private:
  const FakeClock& clock_;
};

// One engine with its identity, underlay address, inner address and records.
struct Node {
  Node(std::string name, uint64_t seed, const FakeClock& clock,
       Endpoint address, EngineOptions options = {})
      : name(std::move(name)),
        rng(seed),
        private_key(crypto::GeneratePrivateKey(rng)),
        public_key(crypto::DerivePublicKey(private_key).value()),
        address(address),
        engine(std::make_unique<Engine>(options, rng)),
        sink(clock) {}

  // Encapsulates `packet`; a datagram written to `out` (kSent) joins the
  // outbox like the sink's secondary outputs, in order.
  EncapsulateResult Send(const std::vector<uint8_t>& packet, Now now) {
    std::vector<uint8_t> out(packet.size() + 64);
    EncapsulateResult r =
        engine->Encapsulate(ByteSpan(packet), MutableByteSpan(out), now, sink);
    if (r.kind == EncapsulateResult::Kind::kSent) {
      out.resize(r.length);
      last_sent = out;
      Datagram d{r.peer, r.to, out, now.mono};
      sink.outbox.push_back(d);
      sink.log.push_back(std::move(d));
    }
    return r;
  }

  // Datagrams of `type` this node ever sent.
  size_t CountSent(MessageType type) const {
    size_t n = 0;
    for (const Datagram& d : sink.log) n += TypeOf(d.data) == type;
    return n;
  }
  // Transport messages of exactly keepalive size this node ever sent.
  size_t CountKeepalivesSent() const {
    size_t n = 0;
    for (const Datagram& d : sink.log) n += d.data.size() == kTransportMinSize;
    return n;
  }

  std::string name;
  LockedRng rng;
  crypto::PrivateKey private_key;
  crypto::PublicKey public_key;
  Endpoint address;
  std::unique_ptr<Engine> engine;
  RecordingSink sink;
  std::vector<uint8_t> last_sent;          // the last datagram Send() produced
  std::vector<DecapsulateResult> results;  // of every Receive
  std::vector<std::vector<uint8_t>> delivered;  // inner packets (kDeliver)
};

// Two engines, a at 192.0.2.1:51820 with inner 10.0.0.1 / fd00::1, b at
// 192.0.2.2:51820 with inner 10.0.0.2 / fd00::2, configured as each other's
// peer (a knows b's endpoint; b learns a's from its first initiation unless
// `b_knows_a` is set).
class EnginePairTest : public ::testing::Test {
 protected:
  EnginePairTest() { Build({}, {}); }

  void Build(EngineOptions a_options, EngineOptions b_options) {
    a = std::make_unique<Node>("a", 1, clock, Ep("192.0.2.1:51820"), a_options);
    b = std::make_unique<Node>("b", 2, clock, Ep("192.0.2.2:51820"), b_options);
    ASSERT_TRUE(a->engine->SetPrivateKey(a->private_key, now()).ok());
    ASSERT_TRUE(b->engine->SetPrivateKey(b->private_key, now()).ok());
  }

  // Configures the two as peers (optionally with preshared keys).
  void Connect(std::optional<crypto::PresharedKey> a_psk = std::nullopt,
               std::optional<crypto::PresharedKey> b_psk = std::nullopt,
               bool b_knows_a = true) {
    PeerUpdate to_b;
    to_b.public_key = b->public_key;
    to_b.endpoint = b->address;
    to_b.preshared_key = a_psk;
    to_b.allowed_ips = {Prefix("10.0.0.2/32"), Prefix("fd00::2/128")};
    ASSERT_TRUE(a->engine->ApplyPeerUpdate(to_b, now(), a->sink).ok());
    PeerUpdate to_a;
    to_a.public_key = a->public_key;
    if (b_knows_a) to_a.endpoint = a->address;
    to_a.preshared_key = b_psk;
    to_a.allowed_ips = {Prefix("10.0.0.1/32"), Prefix("fd00::1/128")};
    ASSERT_TRUE(b->engine->ApplyPeerUpdate(to_a, now(), b->sink).ok());
  }

  zl::Now now() const { return clock.Read(); }

  Node& Other(const Node& n) { return &n == a.get() ? *b : *a; }

  // Hands one datagram to `to` as if it came from `from_address`.
  DecapsulateResult Receive(Node& to, const std::vector<uint8_t>& datagram,
                            const Endpoint& from_address) {
    std::vector<uint8_t> buffer = datagram;
    DecapsulateResult r =
        to.engine->Decapsulate(Path{from_address, to.address.address()},
                               MutableByteSpan(buffer), now(), to.sink);
    if (r.kind == DecapsulateResult::Kind::kDeliver) {
      to.delivered.emplace_back(r.packet.begin(), r.packet.end());
      r.packet = {};  // points into `buffer`
    }
    to.results.push_back(r);
    return r;
  }

  // Carries everything in `from`'s outbox to the other node (datagrams for
  // other addresses are lost). Returns the receiver's results.
  std::vector<DecapsulateResult> Deliver(Node& from) {
    std::vector<Datagram> batch;
    batch.swap(from.sink.outbox);
    std::vector<DecapsulateResult> results;
    Node& to = Other(from);
    for (const Datagram& d : batch) {
      if (d.to.remote != to.address) continue;
      results.push_back(Receive(to, d.data, from.address));
    }
    return results;
  }

  // Delivers both ways until nothing is in flight.
  void Pump() {
    for (int i = 0;
         i < 100 && (!a->sink.outbox.empty() || !b->sink.outbox.empty()); ++i) {
      Deliver(*a);
      Deliver(*b);
    }
  }

  // Drops everything in flight.
  void Lose() {
    a->sink.outbox.clear();
    b->sink.outbox.clear();
  }

  // Moves time forward in kTickInterval steps, ticking both engines and
  // (if `pump`) delivering what they send.
  void Advance(Duration d, bool pump = true) {
    const MonoTime end = clock.Read().mono + d;
    while (clock.Read().mono < end) {
      const Duration step =
          std::min<Duration>(kTickInterval, end - clock.Read().mono);
      clock.Advance(step);
      a->engine->Tick(now(), a->sink);
      b->engine->Tick(now(), b->sink);
      if (pump) Pump();
    }
  }

  // a sends one packet to b and the handshake completes; returns with a
  // current keypair on both sides (b confirmed by a's packet).
  void Establish() {
    ASSERT_EQ(a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", 40), now()).kind,
              EncapsulateResult::Kind::kQueued);
    Pump();
    ASSERT_EQ(b->delivered.size(), 1u);
  }

  // a sends a packet and b receives it; returns b's result.
  DecapsulateResult SendAToB(size_t payload = 40) {
    auto r = a->Send(Ipv4Packet("10.0.0.1", "10.0.0.2", payload), now());
    EXPECT_EQ(r.kind, EncapsulateResult::Kind::kSent);
    auto results = Deliver(*a);
    EXPECT_FALSE(results.empty());
    return results.empty() ? DecapsulateResult{} : results.back();
  }

  uint64_t PeerDrops(Node& at, const Node& peer, DropReason reason) {
    auto s = at.engine->SnapshotPeer(peer.public_key);
    return s ? s->drops[size_t(reason)] : 0;
  }
  uint64_t InterfaceDrops(Node& at, DropReason reason) {
    return at.engine->interface_drops()[size_t(reason)];
  }

  FakeClock clock;
  std::unique_ptr<Node> a;
  std::unique_ptr<Node> b;
};

}  // namespace zl::wg::harness
