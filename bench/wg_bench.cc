// Benchmarks of the protocol core (wg::Engine) beside the raw AEAD it is
// built on, so the engine's overhead can be read off one run:
//
//   BM_Handshake        the four Noise steps (CreateInitiation,
//   ConsumeInitiation,
//                       CreateResponse, ConsumeResponse): complete
//                       handshakes/s.
//   BM_X25519           one X25519, the unit of handshake cost.
//   BM_EngineHandshake  the same through two Engines (macs, indices, keypairs).
//   BM_Encapsulate/N    Engine::Encapsulate of an N-byte IPv4 packet.
//   BM_Decapsulate/N    Engine::Decapsulate of the datagram of an N-byte
//                       packet.
//   BM_SharedEncapsulate/N, BM_SharedDecapsulate/N  the same on ONE engine
//                       and ONE peer shared by all threads: threads:2 vs
//                       threads:1 (items/s, real time) says how far one
//                       peer's seals/opens spread over two cores.
//   BM_SharedResponderHandshake  complete handshakes with ONE responder
//                       engine shared by all threads, each thread driving its
//                       own initiator engines (many peers): the responder's
//                       X25519s run outside its lock, so threads:2 should
//                       come close to twice threads:1.
//   BM_RawAeadSeal/N    ChaChaPoly::Seal of N bytes (WireGuard's nonce), one
//                       key throughout (the context keeps it set).
//   BM_RawAeadSealTwoKeys/N  the same, alternating between two keys, so every
//                       call re-keys the context (many peers interleaved).
//   BM_RawAeadOpen/N    ChaChaPoly::Open of N bytes + tag.
//
// Decryption happens in place and each counter is accepted once, so the
// decapsulation benchmarks work through batches of distinct, valid datagrams
// made outside the timed region (the raw Open benchmark the same way, so both
// read their input from the same cache level).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/ip.h"
#include "crypto/aead.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/tai64n.h"
#include "crypto/x25519.h"
#include "wg/engine.h"
#include "wg/messages.h"
#include "wg/noise.h"

namespace {

using namespace zl;      // NOLINT
using namespace zl::wg;  // NOLINT

constexpr size_t kBatchBytes = size_t(1) << 20;  // per decryption batch

size_t BatchSize(size_t packet_size) {
  return std::max<size_t>(64, kBatchBytes / (packet_size + 64));
}

class NullSink final : public PacketSink {
 public:
  void SendToNetwork(PeerId, const Path&, ByteSpan data) override {
    last.assign(data.begin(), data.end());
  }
  void WriteToTun(PeerId, ByteSpan) override {}
  std::vector<uint8_t> last;
};

// Keeps the last datagram sent to each peer; safe for several threads.
class PerPeerSink final : public PacketSink {
 public:
  void SendToNetwork(PeerId peer, const Path&, ByteSpan data) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (peer >= last_.size()) last_.resize(peer + 1);
    last_[peer].assign(data.begin(), data.end());
  }
  void WriteToTun(PeerId, ByteSpan) override {}
  std::vector<uint8_t> Last(PeerId peer) {
    std::lock_guard<std::mutex> lock(mu_);
    return peer < last_.size() ? last_[peer] : std::vector<uint8_t>();
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<uint8_t>> last_;
};

std::vector<uint8_t> Ipv4Packet(size_t size) {
  std::vector<uint8_t> p(std::max<size_t>(size, 20), 0x42);
  p[0] = 0x45;
  StoreBe16(&p[2], uint16_t(p.size() > 65535 ? 65535 : p.size()));
  StoreBe32(&p[12], 0x0a000001);  // 10.0.0.1
  StoreBe32(&p[16], 0x0a000002);  // 10.0.0.2
  return p;
}

// Two engines with a completed handshake: a (10.0.0.1) sends to b (10.0.0.2).
struct Pair {
  Pair()
      : rng_a(1),
        rng_b(2),
        a(EngineOptions{}, rng_a),
        b(EngineOptions{}, rng_b) {
    const crypto::PrivateKey ka = crypto::GeneratePrivateKey(rng_a);
    const crypto::PrivateKey kb = crypto::GeneratePrivateKey(rng_b);
    (void)a.SetPrivateKey(ka, now);
    (void)b.SetPrivateKey(kb, now);
    pub_a = crypto::DerivePublicKey(ka).value();
    pub_b = crypto::DerivePublicKey(kb).value();
    PeerUpdate to_b;
    to_b.public_key = pub_b;
    to_b.endpoint = addr_b;
    to_b.allowed_ips = {Cidr(IpAddress::V4(0x0a000002), 32)};
    (void)a.ApplyPeerUpdate(to_b, now, sink_a);
    PeerUpdate to_a;
    to_a.public_key = pub_a;
    to_a.endpoint = addr_a;
    to_a.allowed_ips = {Cidr(IpAddress::V4(0x0a000001), 32)};
    (void)b.ApplyPeerUpdate(to_a, now, sink_b);
  }

  // a -> initiation -> b -> response -> a -> first data -> b.
  bool Handshake() {
    const auto packet = Ipv4Packet(64);
    std::vector<uint8_t> out(packet.size() + 64);
    if (a.Encapsulate(ByteSpan(packet), MutableByteSpan(out), now, sink_a)
            .kind != EncapsulateResult::Kind::kQueued) {
      return false;
    }
    std::vector<uint8_t> msg = sink_a.last;
    if (b.Decapsulate(Path{addr_a, {}}, MutableByteSpan(msg), now, sink_b)
            .kind != DecapsulateResult::Kind::kHandshake) {
      return false;
    }
    msg = sink_b.last;
    if (a.Decapsulate(Path{addr_b, {}}, MutableByteSpan(msg), now, sink_a)
            .kind != DecapsulateResult::Kind::kHandshake) {
      return false;
    }
    msg = sink_a.last;  // the staged packet
    return b.Decapsulate(Path{addr_a, {}}, MutableByteSpan(msg), now, sink_b)
               .kind == DecapsulateResult::Kind::kDeliver;
  }

  crypto::DeterministicRng rng_a, rng_b;
  Engine a, b;
  NullSink sink_a, sink_b;
  crypto::PublicKey pub_a, pub_b;
  Endpoint addr_a{IpAddress::V4(0xc0000201), 51820};
  Endpoint addr_b{IpAddress::V4(0xc0000202), 51820};
  Now now = FakeClock().Read();
};

void BM_Handshake(benchmark::State& state) {
  crypto::DeterministicRng rng(3);
  LocalStatic i, r;
  i.private_key = crypto::GeneratePrivateKey(rng);
  i.public_key = crypto::DerivePublicKey(i.private_key).value();
  r.private_key = crypto::GeneratePrivateKey(rng);
  r.public_key = crypto::DerivePublicKey(r.private_key).value();
  PeerStatic i_view, r_view;  // the initiator's view of r, the responder's of i
  i_view.public_key = r.public_key;
  i_view.precomputed_ss = crypto::X25519(i.private_key, r.public_key).value();
  r_view.public_key = i.public_key;
  r_view.precomputed_ss = crypto::X25519(r.private_key, i.public_key).value();
  const crypto::Tai64n timestamp = crypto::MakeTai64n(FakeClock().Read().wall);
  auto find = [&](const crypto::PublicKey& k) -> const PeerStatic* {
    return k == i.public_key ? &r_view : nullptr;
  };
  for (auto _ : state) {
    Initiation init;
    InitiatorState st;
    if (!CreateInitiation(i, i_view, 1, timestamp, rng, init, st).ok()) {
      state.SkipWithError("CreateInitiation");
      break;
    }
    auto consumed = ConsumeInitiation(init, r, find);
    if (!consumed.ok()) {
      state.SkipWithError("ConsumeInitiation");
      break;
    }
    Response resp;
    SessionKeys rk, ik;
    if (!CreateResponse(consumed.value(), r_view, 2, rng, resp, rk).ok() ||
        !ConsumeResponse(resp, i, i_view, st, ik).ok()) {
      state.SkipWithError("response");
      break;
    }
    benchmark::DoNotOptimize(ik.send.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Handshake);

// One X25519 scalar multiplication, for scale: a handshake does eight (two
// ephemeral key generations and six DHs; the static-static DH is cached).
void BM_X25519(benchmark::State& state) {
  crypto::DeterministicRng rng(4);
  const crypto::PrivateKey priv = crypto::GeneratePrivateKey(rng);
  const crypto::PublicKey pub =
      crypto::DerivePublicKey(crypto::GeneratePrivateKey(rng)).value();
  for (auto _ : state) {
    auto ss = crypto::X25519(priv, pub);
    benchmark::DoNotOptimize(ss.ok());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_X25519);

void BM_EngineHandshake(benchmark::State& state) {
  Pair pair;
  for (auto _ : state) {
    // Once the keypair is past REJECT_AFTER_TIME the next packet needs a new
    // handshake; the clock jump also clears the rate limits and makes the
    // TAI64N timestamp newer.
    pair.now.mono += kRejectAfterTime + std::chrono::seconds(1);
    pair.now.wall += kRejectAfterTime + std::chrono::seconds(1);
    if (!pair.Handshake()) {
      state.SkipWithError("handshake failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
// Threads(2): two pairs of engines, one per thread: how handshakes scale
// with cores when each core has its own engine (items/s is the total).
BENCHMARK(BM_EngineHandshake)->Threads(1)->Threads(2)->UseRealTime();

void BM_Encapsulate(benchmark::State& state) {
  Pair pair;
  if (!pair.Handshake()) {
    state.SkipWithError("handshake failed");
    return;
  }
  const auto packet = Ipv4Packet(size_t(state.range(0)));
  std::vector<uint8_t> out(packet.size() + 64);
  for (auto _ : state) {
    auto r = pair.a.Encapsulate(ByteSpan(packet), MutableByteSpan(out),
                                pair.now, pair.sink_a);
    benchmark::DoNotOptimize(r.length);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(packet.size()));
}
BENCHMARK(BM_Encapsulate)->Arg(64)->Arg(1420)->Arg(8192);

// A batch of a's datagrams of one packet, opened one by one by b; sealed
// again (outside the timing) when all are used: what the Decapsulate
// benchmarks open.
class SealedBatch {
 public:
  SealedBatch(const std::vector<uint8_t>& packet, size_t batch)
      : packet_(packet),
        datagrams_(batch, std::vector<uint8_t>(packet.size() + 64)),
        lengths_(batch),
        next_(batch) {}

  DecapsulateResult OpenNext(Pair& pair, const Path& from,
                             benchmark::State& state) {
    if (next_ == datagrams_.size()) {
      state.PauseTiming();
      for (size_t i = 0; i < datagrams_.size(); ++i) {
        lengths_[i] = pair.a
                          .Encapsulate(ByteSpan(packet_),
                                       MutableByteSpan(datagrams_[i]), pair.now,
                                       pair.sink_a)
                          .length;
      }
      next_ = 0;
      state.ResumeTiming();
    }
    const size_t k = next_++;
    return pair.b.Decapsulate(
        from, MutableByteSpan(datagrams_[k].data(), lengths_[k]), pair.now,
        pair.sink_b);
  }

 private:
  const std::vector<uint8_t>& packet_;
  std::vector<std::vector<uint8_t>> datagrams_;
  std::vector<size_t> lengths_;
  size_t next_;
};

void BM_Decapsulate(benchmark::State& state) {
  Pair pair;
  if (!pair.Handshake()) {
    state.SkipWithError("handshake failed");
    return;
  }
  const auto packet = Ipv4Packet(size_t(state.range(0)));
  SealedBatch sealed(packet, BatchSize(packet.size()));
  const Path from{pair.addr_a, {}};
  for (auto _ : state) {
    if (sealed.OpenNext(pair, from, state).kind !=
        DecapsulateResult::Kind::kDeliver) {
      state.SkipWithError("not delivered");
      break;
    }
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(packet.size()));
}

BENCHMARK(BM_Decapsulate)->Arg(64)->Arg(1420)->Arg(8192);

// Shared by the threads of one run of a Shared* benchmark: made by thread 0
// before the timed loop (the loop's start waits for every thread) and
// destroyed by it after (the loop's end waits too).
std::unique_ptr<Pair> g_shared_pair;

void BM_SharedEncapsulate(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_shared_pair = std::make_unique<Pair>();
    if (!g_shared_pair->Handshake()) state.SkipWithError("handshake failed");
  }
  const auto packet = Ipv4Packet(size_t(state.range(0)));
  std::vector<uint8_t> out(packet.size() + 64);
  for (auto _ : state) {
    Pair& pair = *g_shared_pair;
    auto r = pair.a.Encapsulate(ByteSpan(packet), MutableByteSpan(out),
                                pair.now, pair.sink_a);
    benchmark::DoNotOptimize(r.length);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(packet.size()));
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) g_shared_pair.reset();
}
BENCHMARK(BM_SharedEncapsulate)
    ->Arg(64)
    ->Arg(1420)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

void BM_SharedDecapsulate(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_shared_pair = std::make_unique<Pair>();
    if (!g_shared_pair->Handshake()) state.SkipWithError("handshake failed");
  }
  const auto packet = Ipv4Packet(size_t(state.range(0)));
  // Smaller batches than BM_Decapsulate's: the threads' batches interleave
  // in counter space and must stay within the replay window together.
  SealedBatch sealed(packet, std::min<size_t>(BatchSize(packet.size()), 1024));
  int64_t dropped = 0;
  const Path from{Endpoint(IpAddress::V4(0xc0000201), 51820), {}};
  for (auto _ : state) {
    dropped += sealed.OpenNext(*g_shared_pair, from, state).kind !=
               DecapsulateResult::Kind::kDeliver;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(packet.size()));
  state.SetItemsProcessed(state.iterations());
  state.counters["dropped"] = double(dropped);
  if (state.thread_index() == 0) g_shared_pair.reset();
}

BENCHMARK(BM_SharedDecapsulate)
    ->Arg(64)
    ->Arg(1420)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// One responder engine and, per thread, its own initiator engines.
struct HandshakeFleet {
  static constexpr int kInitiatorsPerThread = 64;

  struct Initiator {
    explicit Initiator(uint64_t seed)
        : rng(seed), engine(EngineOptions{}, rng) {}
    crypto::DeterministicRng rng;  // one thread uses an initiator
    Engine engine;
    NullSink sink;
    crypto::PublicKey public_key;
    PeerId id_at_responder = kNoPeer;
    Endpoint address;
    std::vector<uint8_t> packet;  // from its inner address to the responder
    Now now = FakeClock().Read();
  };

  explicit HandshakeFleet(int threads) : responder(Options(), rng) {
    const crypto::PrivateKey key = crypto::GeneratePrivateKey(rng);
    const crypto::PublicKey pub = crypto::DerivePublicKey(key).value();
    const Now now = FakeClock().Read();
    (void)responder.SetPrivateKey(key, now);
    for (int k = 0; k < threads * kInitiatorsPerThread; ++k) {
      auto& in = *initiators.emplace_back(
          std::make_unique<Initiator>(1000 + uint64_t(k)));
      const crypto::PrivateKey in_key = crypto::GeneratePrivateKey(in.rng);
      in.public_key = crypto::DerivePublicKey(in_key).value();
      (void)in.engine.SetPrivateKey(in_key, now);
      in.address = Endpoint(IpAddress::V4(0xc6330000u + uint32_t(k)), 51820);
      const uint32_t inner = 0x0a010000u + uint32_t(k);
      in.packet = Ipv4Packet(64);
      StoreBe32(&in.packet[12], inner);
      PeerUpdate to_responder;
      to_responder.public_key = pub;
      to_responder.endpoint = address;
      to_responder.allowed_ips = {Cidr(IpAddress::V4(0x0a000002), 32)};
      (void)in.engine.ApplyPeerUpdate(to_responder, now, in.sink);
      PeerUpdate to_initiator;
      to_initiator.public_key = in.public_key;
      to_initiator.allowed_ips = {Cidr(IpAddress::V4(inner), 32)};
      (void)responder.ApplyPeerUpdate(to_initiator, now, sink);
      in.id_at_responder = responder.FindPeerId(in.public_key);
    }
  }

  static EngineOptions Options() {
    EngineOptions options;
    options.under_load_handshakes_per_second = ~uint32_t(0);  // never
    return options;
  }

  // initiation -> response -> first data packet, delivered.
  bool Handshake(Initiator& in) {
    // Past REJECT_AFTER_TIME: the packet needs a new handshake; the jump
    // also makes the TAI64N timestamp newer and clears the rate limits.
    in.now.mono += kRejectAfterTime + std::chrono::seconds(1);
    in.now.wall += kRejectAfterTime + std::chrono::seconds(1);
    std::vector<uint8_t> out(in.packet.size() + 64);
    if (in.engine
            .Encapsulate(ByteSpan(in.packet), MutableByteSpan(out), in.now,
                         in.sink)
            .kind != EncapsulateResult::Kind::kQueued) {
      return false;
    }
    std::vector<uint8_t> msg = in.sink.last;
    const Path from{in.address, {}};
    if (responder.Decapsulate(from, MutableByteSpan(msg), in.now, sink).kind !=
        DecapsulateResult::Kind::kHandshake) {
      return false;
    }
    msg = sink.Last(in.id_at_responder);
    if (in.engine
            .Decapsulate(Path{address, {}}, MutableByteSpan(msg), in.now,
                         in.sink)
            .kind != DecapsulateResult::Kind::kHandshake) {
      return false;
    }
    msg = in.sink.last;  // the staged packet
    return responder.Decapsulate(from, MutableByteSpan(msg), in.now, sink)
               .kind == DecapsulateResult::Kind::kDeliver;
  }

  crypto::SystemRng rng;  // thread-safe: the responder's threads share it
  Engine responder;
  PerPeerSink sink;
  Endpoint address{IpAddress::V4(0xc0000202), 51820};
  std::vector<std::unique_ptr<Initiator>> initiators;
};

std::unique_ptr<HandshakeFleet> g_fleet;

void BM_SharedResponderHandshake(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_fleet = std::make_unique<HandshakeFleet>(state.threads());
  }
  size_t next = 0;
  for (auto _ : state) {
    HandshakeFleet& fleet = *g_fleet;
    HandshakeFleet::Initiator& in =
        *fleet.initiators[size_t(state.thread_index()) *
                              HandshakeFleet::kInitiatorsPerThread +
                          next];
    next = (next + 1) % HandshakeFleet::kInitiatorsPerThread;
    if (!fleet.Handshake(in)) {
      state.SkipWithError("handshake failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) g_fleet.reset();
}
BENCHMARK(BM_SharedResponderHandshake)->Threads(1)->Threads(2)->UseRealTime();

crypto::SymmetricKey BenchKey() {
  crypto::DeterministicRng rng(9);
  crypto::SymmetricKey key;
  rng.Fill(key.mutable_span());
  return key;
}

void BM_RawAeadSeal(benchmark::State& state) {
  crypto::ChaChaPoly aead;
  const crypto::SymmetricKey key = BenchKey();
  const size_t n = size_t(state.range(0));
  std::vector<uint8_t> plain(n, 0x42), out(n + crypto::kAeadTagLen);
  uint64_t counter = 0;
  for (auto _ : state) {
    bool ok = aead.Seal(key, counter++, ByteSpan(), ByteSpan(plain),
                        MutableByteSpan(out));
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK(BM_RawAeadSeal)->Arg(64)->Arg(1420)->Arg(8192);

void BM_RawAeadSealTwoKeys(benchmark::State& state) {
  crypto::ChaChaPoly aead;
  crypto::SymmetricKey keys[2] = {BenchKey(), BenchKey()};
  keys[1].data()[0] ^= 1;
  const size_t n = size_t(state.range(0));
  std::vector<uint8_t> plain(n, 0x42), out(n + crypto::kAeadTagLen);
  uint64_t counter = 0;
  for (auto _ : state) {
    bool ok = aead.Seal(keys[counter & 1], counter, ByteSpan(), ByteSpan(plain),
                        MutableByteSpan(out));
    ++counter;
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK(BM_RawAeadSealTwoKeys)->Arg(64)->Arg(1420)->Arg(8192);

void BM_RawAeadOpen(benchmark::State& state) {
  crypto::ChaChaPoly aead;
  const crypto::SymmetricKey key = BenchKey();
  const size_t n = size_t(state.range(0));
  const size_t batch = BatchSize(n);
  const std::vector<uint8_t> plain(n, 0x42);
  std::vector<std::vector<uint8_t>> sealed(
      batch, std::vector<uint8_t>(n + crypto::kAeadTagLen));
  uint64_t counter = 0;
  auto refill = [&] {
    for (auto& s : sealed) {
      (void)aead.Seal(key, counter++, ByteSpan(), ByteSpan(plain),
                      MutableByteSpan(s));
    }
    counter -= batch;
  };
  refill();
  size_t next = 0;
  for (auto _ : state) {
    if (next == batch) {
      state.PauseTiming();
      counter += batch;
      refill();
      next = 0;
      state.ResumeTiming();
    }
    std::vector<uint8_t>& s = sealed[next];
    if (!aead.Open(key, counter + next, ByteSpan(), ByteSpan(s),
                   MutableByteSpan(s.data(), n))) {
      state.SkipWithError("open failed");
      break;
    }
    ++next;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK(BM_RawAeadOpen)->Arg(64)->Arg(1420)->Arg(8192);

}  // namespace

BENCHMARK_MAIN();
