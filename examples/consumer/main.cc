// zlayer-consumer: uses the installed zlayer-overlay library.
//
//   zlayer-consumer             two sans-I/O engines (ZlayerOverlay::wg) complete
//                               a handshake in memory and carry one packet
//   zlayer-consumer --device N  also: a device (ZlayerOverlay::device) on a new
//                               TUN named N (needs CAP_NET_ADMIN), given a key
//                               through its control API, reports its public key
//
// Prints what it did; exits 0 only if every step worked.

#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/ip.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "device/device.h"
#include "net/event_loop.h"
#include "net/linux_tun.h"
#include "wg/engine.h"

namespace {

// Collects what an engine sends, for the other engine to receive.
struct Wire final : zl::wg::PacketSink {
  std::deque<std::vector<uint8_t>> datagrams;
  void SendToNetwork(zl::wg::PeerId, const zl::wg::Path&, zl::ByteSpan data) override {
    datagrams.emplace_back(data.begin(), data.end());
  }
  void WriteToTun(zl::wg::PeerId, zl::ByteSpan) override {}
};

// A minimal IPv4 header (no options, no payload) from `src` to `dst`.
std::vector<uint8_t> Ipv4Packet(const uint8_t src[4], const uint8_t dst[4]) {
  std::vector<uint8_t> p(20, 0);
  p[0] = 0x45;
  p[3] = 20;  // total length
  p[8] = 64;  // TTL
  p[9] = 17;  // UDP
  std::memcpy(&p[12], src, 4);
  std::memcpy(&p[16], dst, 4);
  return p;
}

bool Fail(const char* what, const std::string& why) {
  std::fprintf(stderr, "zlayer-consumer: %s: %s\n", what, why.c_str());
  return false;
}

bool EnginesHandshake() {
  zl::crypto::SystemRng rng;
  zl::SystemClock clock;
  zl::wg::Engine a(zl::wg::EngineOptions{}, rng), b(zl::wg::EngineOptions{}, rng);
  auto ka = zl::crypto::GeneratePrivateKey(rng);
  auto kb = zl::crypto::GeneratePrivateKey(rng);
  auto pa = zl::crypto::DerivePublicKey(ka);
  auto pb = zl::crypto::DerivePublicKey(kb);
  if (!pa.ok() || !pb.ok()) return Fail("public key", "derivation failed");
  auto now = clock.Read();
  if (!a.SetPrivateKey(ka, now).ok() || !b.SetPrivateKey(kb, now).ok()) {
    return Fail("private key", "refused");
  }
  Wire to_b, to_a;  // what a sends (for b), what b sends (for a)
  std::vector<std::vector<uint8_t>> received_by_b;
  zl::wg::PeerUpdate peer_b{.public_key = *pb};
  peer_b.endpoint = *zl::Endpoint::Parse("192.0.2.2:51820");
  peer_b.allowed_ips = {*zl::Cidr::Parse("10.0.0.2/32")};
  zl::wg::PeerUpdate peer_a{.public_key = *pa};
  peer_a.endpoint = *zl::Endpoint::Parse("192.0.2.1:51820");
  peer_a.allowed_ips = {*zl::Cidr::Parse("10.0.0.1/32")};
  if (!a.ApplyPeerUpdate(peer_b, now, to_b).ok() || !b.ApplyPeerUpdate(peer_a, now, to_a).ok()) {
    return Fail("peers", "refused");
  }

  const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
  auto packet = Ipv4Packet(src, dst);
  std::vector<uint8_t> out(packet.size() + 64);
  auto sent = a.Encapsulate(packet, out, now, to_b);
  if (sent.kind == zl::wg::EncapsulateResult::Kind::kDropped) return Fail("encapsulate", "dropped");

  const zl::wg::Path from_a{*zl::Endpoint::Parse("192.0.2.1:51820"), std::nullopt};
  const zl::wg::Path from_b{*zl::Endpoint::Parse("192.0.2.2:51820"), std::nullopt};
  // Initiation, response, then the staged packet: a few rounds at most.
  for (int round = 0; round < 8 && (!to_b.datagrams.empty() || !to_a.datagrams.empty()); ++round) {
    while (!to_b.datagrams.empty()) {
      auto d = std::move(to_b.datagrams.front());
      to_b.datagrams.pop_front();
      auto r = b.Decapsulate(from_a, d, now, to_a);
      if (r.kind == zl::wg::DecapsulateResult::Kind::kDeliver) {
        received_by_b.emplace_back(r.packet.begin(), r.packet.end());
      }
    }
    while (!to_a.datagrams.empty()) {
      auto d = std::move(to_a.datagrams.front());
      to_a.datagrams.pop_front();
      a.Decapsulate(from_b, d, now, to_b);
    }
  }
  if (received_by_b.size() != 1 || received_by_b[0] != packet) {
    return Fail("engines", "the packet did not arrive through the tunnel");
  }
  std::printf("engines: handshake completed, 1 packet carried (peer %s)\n",
              pb->ToBase64().c_str());
  return true;
}

bool DeviceOnTun(const std::string& name) {
  auto loop = zl::net::EventLoop::Create();
  if (!loop.ok()) return Fail("event loop", loop.error().message());
  auto tun = zl::net::CreateLinuxTun(name);
  if (!tun.ok()) return Fail("TUN", tun.error().message());
  zl::SystemClock clock;
  zl::crypto::SystemRng rng;
  auto device = zl::device::Device::Create(**loop, std::move(*tun), clock, rng, {});
  if (!device.ok()) return Fail("device", device.error().message());
  std::thread runner([&] { (void)(*loop)->Run(); });
  zl::device::ConfigRequest request;
  request.private_key = zl::crypto::GeneratePrivateKey(rng);
  request.listen_port = 0;
  auto applied = (*device)->Apply(request);
  auto state = (*device)->Snapshot();
  (*loop)->Stop();
  runner.join();
  (*device)->Close();
  if (!applied.ok()) return Fail("device apply", applied.error().message());
  if (!state.ok()) return Fail("device snapshot", state.error().message());
  if (!state->private_key) return Fail("device snapshot", "no private key");
  auto pub = zl::crypto::DerivePublicKey(*state->private_key);
  if (!pub.ok()) return Fail("device", "public key");
  std::printf("device: %s up, public key %s, listen port %u\n", name.c_str(),
              pub->ToBase64().c_str(), unsigned(state->listen_port));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool ok = EnginesHandshake();
  if (ok && argc == 3 && std::strcmp(argv[1], "--device") == 0) ok = DeviceOnTun(argv[2]);
  return ok ? 0 : 1;
}
