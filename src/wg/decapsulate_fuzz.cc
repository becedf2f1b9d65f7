// Fuzzes Engine::Decapsulate (and a Tick after it) on an engine with one
// configured peer. It must never crash, whatever arrives.
//
// Input: byte 0 picks a template, byte 1 how far the clock moves before the
// Tick, the rest is the mutation:
//   0  raw: the rest is the datagram;
//   1  a valid initiation from the peer, the rest XORed over it;
//   2  a valid transport data message on an established session, XORed;
//   3  a valid response to the engine's own initiation, XORed;
//   4  a valid cookie reply to the engine's own initiation, XORed;
// For XORed templates a rest longer than the template also appends bytes and
// an odd byte 1 truncates it, so lengths around each template are explored.
//
// Every input runs on a fresh engine built from the same seed, so the
// engine's random choices (indices, ephemerals) repeat exactly and the
// templates, recorded once at start-up, stay valid.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "base/ip.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "wg/engine.h"

namespace {

using namespace zl;      // NOLINT
using namespace zl::wg;  // NOLINT

constexpr uint64_t kTargetSeed = 7;
constexpr uint64_t kPeerSeed = 8;

class CaptureSink final : public PacketSink {
 public:
  void SendToNetwork(PeerId, const Path&, ByteSpan data) override {
    sent.emplace_back(data.begin(), data.end());
  }
  void WriteToTun(PeerId, ByteSpan) override {}
  std::vector<std::vector<uint8_t>> sent;
};

struct Identity {
  explicit Identity(uint64_t seed) {
    crypto::DeterministicRng rng(seed);
    private_key = crypto::GeneratePrivateKey(rng);
    public_key = crypto::DerivePublicKey(private_key).value();
  }
  crypto::PrivateKey private_key;
  crypto::PublicKey public_key;
};

const Endpoint kTargetAddress(IpAddress::V4(0xc0000201), 51820);  // 192.0.2.1
const Endpoint kPeerAddress(IpAddress::V4(0xc0000202), 51820);    // 192.0.2.2

Now StartTime() {
  FakeClock clock;
  return clock.Read();
}

std::vector<uint8_t> Ipv4Packet(uint32_t src, uint32_t dst) {
  std::vector<uint8_t> p(40, 0x5a);
  p[0] = 0x45;
  StoreBe16(&p[2], uint16_t(p.size()));
  StoreBe32(&p[12], src);
  StoreBe32(&p[16], dst);
  return p;
}

// An engine with a private key and one peer (with an endpoint and an
// allowed-IPs entry), deterministic from its seed.
struct Node {
  Node(uint64_t seed, const Identity& self, const Identity& peer,
       const Endpoint& peer_address, uint32_t peer_inner,
       EngineOptions options = {})
      : rng(seed), engine(std::make_unique<Engine>(options, rng)) {
    (void)engine->SetPrivateKey(self.private_key, StartTime());
    PeerUpdate u;
    u.public_key = peer.public_key;
    u.endpoint = peer_address;
    u.allowed_ips = {Cidr(IpAddress::V4(peer_inner), 32)};
    (void)engine->ApplyPeerUpdate(u, StartTime(), sink);
  }
  std::vector<uint8_t> TakeLast() {
    std::vector<uint8_t> last =
        sink.sent.empty() ? std::vector<uint8_t>() : sink.sent.back();
    sink.sent.clear();
    return last;
  }
  // Decrypts in place: a delivered packet points into `datagram`.
  DecapsulateResult Receive(std::vector<uint8_t>& datagram,
                            const Endpoint& from) {
    return engine->Decapsulate(Path{from, std::nullopt},
                               MutableByteSpan(datagram), StartTime(), sink);
  }

  crypto::DeterministicRng rng;
  std::unique_ptr<Engine> engine;
  CaptureSink sink;
};

constexpr uint32_t kTargetInner = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kPeerInner = 0x0a000002;    // 10.0.0.2

struct Templates {
  Identity target{101};
  Identity peer{102};
  std::vector<uint8_t> initiation;  // peer -> target
  std::vector<uint8_t>
      transport;  // peer -> target, on the session made by `initiation`
  std::vector<uint8_t>
      response;  // peer -> target, answering the target's initiation
  std::vector<uint8_t>
      cookie;  // peer (under load) -> target, to that initiation

  std::unique_ptr<Node> FreshTarget() const {
    return std::make_unique<Node>(kTargetSeed, target, peer, kPeerAddress,
                                  kPeerInner);
  }
  // The target with its own initiation in flight (the same one every time).
  std::unique_ptr<Node> TargetInitiating() const {
    auto t = FreshTarget();
    std::vector<uint8_t> out(128);
    const auto packet = Ipv4Packet(kTargetInner, kPeerInner);
    t->engine->Encapsulate(ByteSpan(packet), MutableByteSpan(out), StartTime(),
                           t->sink);
    t->sink.sent.clear();
    return t;
  }
  // The target after consuming `initiation` (its response sent).
  std::unique_ptr<Node> TargetResponded() const {
    auto t = FreshTarget();
    std::vector<uint8_t> copy = initiation;
    t->Receive(copy, kPeerAddress);
    t->sink.sent.clear();
    return t;
  }

  Templates() {
    // Initiation and transport: the peer starts, the target answers.
    {
      Node p(kPeerSeed, peer, target, kTargetAddress, kTargetInner);
      std::vector<uint8_t> out(128);
      const auto packet = Ipv4Packet(kPeerInner, kTargetInner);
      p.engine->Encapsulate(ByteSpan(packet), MutableByteSpan(out), StartTime(),
                            p.sink);
      initiation = p.TakeLast();
      auto t = FreshTarget();
      std::vector<uint8_t> copy = initiation;
      t->Receive(copy, kPeerAddress);
      // The response goes back; the peer flushes its staged packet.
      std::vector<uint8_t> answer = t->TakeLast();
      p.Receive(answer, kTargetAddress);
      transport = p.TakeLast();
    }
    // Response and cookie reply: the target starts.
    {
      auto t = FreshTarget();
      const auto packet = Ipv4Packet(kTargetInner, kPeerInner);
      std::vector<uint8_t> out(128);
      t->engine->Encapsulate(ByteSpan(packet), MutableByteSpan(out),
                             StartTime(), t->sink);
      const std::vector<uint8_t> target_initiation = t->TakeLast();
      Node p(kPeerSeed, peer, target, kTargetAddress, kTargetInner);
      std::vector<uint8_t> copy = target_initiation;
      p.Receive(copy, kTargetAddress);
      response = p.TakeLast();
      EngineOptions loaded;
      loaded.under_load_handshakes_per_second = 0;
      Node q(kPeerSeed, peer, target, kTargetAddress, kTargetInner, loaded);
      copy = target_initiation;
      q.Receive(copy, kTargetAddress);
      cookie = q.TakeLast();
    }
  }
};

// The templates must be what they claim, or the fuzzer only tests the
// rejection of garbage.
bool TemplatesAreValid(const Templates& t) {
  auto check = [](std::unique_ptr<Node> node,
                  const std::vector<uint8_t>& datagram,
                  DecapsulateResult::Kind want, const char* name) {
    std::vector<uint8_t> copy = datagram;
    if (node->Receive(copy, kPeerAddress).kind != want) {
      std::fprintf(stderr, "decapsulate_fuzz: the %s template is not valid\n",
                   name);
      std::abort();
    }
  };
  check(t.FreshTarget(), t.initiation, DecapsulateResult::Kind::kHandshake,
        "initiation");
  check(t.TargetResponded(), t.transport, DecapsulateResult::Kind::kDeliver,
        "transport");
  check(t.TargetInitiating(), t.response, DecapsulateResult::Kind::kHandshake,
        "response");
  check(t.TargetInitiating(), t.cookie, DecapsulateResult::Kind::kHandshake,
        "cookie reply");
  return true;
}

std::vector<uint8_t> Mutate(const std::vector<uint8_t>& base, bool truncate,
                            const uint8_t* rest, size_t n) {
  std::vector<uint8_t> d = base;
  if (d.empty()) return std::vector<uint8_t>(rest, rest + n);
  for (size_t i = 0; i < n; ++i) {
    if (i < d.size()) {
      d[i] ^= rest[i];
    } else {
      d.push_back(rest[i]);
    }
  }
  if (truncate && !d.empty())
    d.resize(d.size() - 1 - (n > 0 ? rest[0] % d.size() : 0));
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Templates* templates = new Templates();
  static const bool valid = TemplatesAreValid(*templates);
  (void)valid;
  if (size < 2) return 0;
  const uint8_t pick = data[0] % 5;
  const bool truncate = (data[1] & 1) != 0;
  const Duration later = std::chrono::seconds(data[1] >> 1) * 5;
  const uint8_t* rest = data + 2;
  const size_t n = size - 2;

  std::unique_ptr<Node> target;
  std::vector<uint8_t> datagram;
  switch (pick) {
    case 0:
      target = templates->FreshTarget();
      datagram.assign(rest, rest + n);
      break;
    case 1:
      target = templates->FreshTarget();
      datagram = Mutate(templates->initiation, truncate, rest, n);
      break;
    case 2:
      target = templates->TargetResponded();
      datagram = Mutate(templates->transport, truncate, rest, n);
      break;
    case 3:
      target = templates->TargetInitiating();
      datagram = Mutate(templates->response, truncate, rest, n);
      break;
    default:
      target = templates->TargetInitiating();
      datagram = Mutate(templates->cookie, truncate, rest, n);
      break;
  }
  const DecapsulateResult r = target->Receive(datagram, kPeerAddress);
  if (r.kind == DecapsulateResult::Kind::kDeliver) {
    // The delivered packet must lie inside the datagram.
    volatile uint8_t sink = 0;
    for (uint8_t b : r.packet) sink = sink ^ b;
    (void)sink;
  }
  Now now = StartTime();
  now.mono += later;
  now.wall += later;
  target->engine->Tick(now, target->sink);
  (void)target->engine->Snapshot();
  return 0;
}
