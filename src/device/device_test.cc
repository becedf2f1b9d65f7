// Two Devices in one process: fake TUNs (socketpairs), real UDP on loopback,
// configured through the ControlApi from another thread, as the UAPI does.

#include "device/device.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/bytes.h"
#include "base/log.h"
#include "crypto/x25519.h"
#include "net/udp_bind.h"
#include "support/fake_tun.h"

namespace zl::device {
namespace {

using testing::FakeTun;

std::vector<uint8_t> Ipv4Packet(const char* src, const char* dst, size_t payload) {
  std::vector<uint8_t> p(20 + payload, 0xab);
  p[0] = 0x45;
  p[1] = 0;
  StoreBe16(&p[2], uint16_t(p.size()));
  p[8] = 64;
  p[9] = 17;
  auto s = IpAddress::Parse(src), d = IpAddress::Parse(dst);
  std::copy_n(s->bytes().begin(), 4, &p[12]);
  std::copy_n(d->bytes().begin(), 4, &p[16]);
  return p;
}

// Waits (bounded) for a packet on `fd`; empty on timeout.
std::vector<uint8_t> ReadPacket(int fd, int timeout_ms = 5000) {
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) != 1) return {};
  std::vector<uint8_t> buf(65536);
  ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  if (n < 0) return {};
  buf.resize(size_t(n));
  return buf;
}

struct Node {
  FakeTun* tun = nullptr;
  std::unique_ptr<Device> device;
  crypto::PrivateKey key;
  crypto::PublicKey pub;
};

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = net::EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    for (Node* n : {&a_, &b_}) {
      n->key = crypto::GeneratePrivateKey(rng_);
      n->pub = *crypto::DerivePublicKey(n->key);
      auto tun = std::make_unique<FakeTun>("fake");
      n->tun = tun.get();
      DeviceOptions options;
      auto bind = net::LinuxBind::Open(0, net::ListenAddresses::Loopback());
      ASSERT_TRUE(bind.ok()) << bind.error().message();
      options.bind = std::move(*bind);
      auto dev = Device::Create(*loop_, std::move(tun), clock_, rng_, std::move(options));
      ASSERT_TRUE(dev.ok()) << dev.error().message();
      n->device = std::move(*dev);
    }
    loop_thread_ = std::thread([this] { (void)loop_->Run(); });
  }

  void TearDown() override {
    loop_->Stop();
    if (loop_thread_.joinable()) loop_thread_.join();
    a_.device.reset();
    b_.device.reset();
  }

  // a knows b's endpoint; b learns a's by roaming.
  void Configure() {
    ConfigRequest ra;
    ra.private_key = a_.key;
    PeerConfig pb;
    pb.public_key = b_.pub;
    pb.endpoint = Endpoint(*IpAddress::Parse("127.0.0.1"), b_.device->listen_port());
    pb.allowed_ips = {*Cidr::Parse("10.0.0.2/32")};
    ra.peers.push_back(pb);
    ASSERT_TRUE(a_.device->Apply(ra).ok());

    ConfigRequest rb;
    rb.private_key = b_.key;
    PeerConfig pa;
    pa.public_key = a_.pub;
    pa.allowed_ips = {*Cidr::Parse("10.0.0.1/32")};
    rb.peers.push_back(pa);
    ASSERT_TRUE(b_.device->Apply(rb).ok());
  }

  crypto::DeterministicRng rng_{42};
  SystemClock clock_;
  std::unique_ptr<net::EventLoop> loop_;
  std::thread loop_thread_;
  Node a_, b_;
};

TEST_F(DeviceTest, PacketCrossesTheTunnelBothWaysAndResponderLearnsEndpoint) {
  Configure();
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 100);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  EXPECT_EQ(ReadPacket(b_.tun->peer_fd()), ping);

  auto pong = Ipv4Packet("10.0.0.2", "10.0.0.1", 1300);
  ASSERT_EQ(::send(b_.tun->peer_fd(), pong.data(), pong.size(), 0), ssize_t(pong.size()));
  EXPECT_EQ(ReadPacket(a_.tun->peer_fd()), pong);

  DeviceState sb = b_.device->Snapshot().value();
  ASSERT_EQ(sb.peers.size(), 1u);
  ASSERT_TRUE(sb.peers[0].endpoint.has_value());
  EXPECT_EQ(sb.peers[0].endpoint->port(), a_.device->listen_port());
  EXPECT_TRUE(sb.peers[0].last_handshake.has_value());
  EXPECT_GT(sb.peers[0].rx_bytes, 0u);
  EXPECT_GT(sb.peers[0].tx_bytes, 0u);
  EXPECT_TRUE(sb.private_key.has_value());
}

TEST_F(DeviceTest, PacketToAddressOutsideAllowedIpsIsNotSent) {
  Configure();
  auto stray = Ipv4Packet("10.0.0.1", "10.9.9.9", 50);
  ASSERT_EQ(::send(a_.tun->peer_fd(), stray.data(), stray.size(), 0), ssize_t(stray.size()));
  EXPECT_TRUE(ReadPacket(b_.tun->peer_fd(), 300).empty());
  EXPECT_EQ(b_.device->Snapshot()->peers[0].rx_bytes, 0u);
}

TEST_F(DeviceTest, PaddingNeverTakesAFullSizePacketPastTheMtu) {
  Configure();
  // 1420 is not a multiple of 16: padded freely it would become 1424.
  auto full = Ipv4Packet("10.0.0.1", "10.0.0.2", net::kDefaultTunMtu - 20);
  ASSERT_EQ(::send(a_.tun->peer_fd(), full.data(), full.size(), 0), ssize_t(full.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), full);
  // b received the 148-byte initiation and one transport datagram.
  EXPECT_EQ(b_.device->Snapshot()->peers[0].rx_bytes, 148u + net::kDefaultTunMtu + 32u);
}

TEST_F(DeviceTest, ListenPortChangeRebindsAndTrafficFollows) {
  Configure();
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), ping);

  // Move b to a fresh port and tell a.
  uint16_t old_port = b_.device->listen_port();
  ConfigRequest rb;
  rb.listen_port = 0;
  ASSERT_TRUE(b_.device->Apply(rb).ok());
  uint16_t new_port = b_.device->Snapshot()->listen_port;
  EXPECT_NE(new_port, old_port);
  ConfigRequest ra;
  PeerConfig pb;
  pb.public_key = b_.pub;
  pb.endpoint = Endpoint(*IpAddress::Parse("127.0.0.1"), new_port);
  ra.peers.push_back(pb);
  ASSERT_TRUE(a_.device->Apply(ra).ok());

  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  EXPECT_EQ(ReadPacket(b_.tun->peer_fd()), ping);
}

// Captures the verbose log while alive (the level and sink are process-wide).
class LogCapture {
 public:
  LogCapture() {
    SetLogLevel(LogLevel::kVerbose);
    SetLogSink([this](LogLevel, std::string_view m) {
      std::lock_guard lock(mu_);
      text_.append(m).append("\n");
    });
  }
  ~LogCapture() {
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::kError);
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A full configuration (preshared key, endpoint, keepalive, allowed IPs,
// replace_peers) and a handshake, logged: every change and every step of the
// handshake has its line, no secret has any.
TEST_F(DeviceTest, VerboseLogTellsEachChangeAndHandshakeStepButNoSecret) {
  LogCapture capture;
  crypto::PresharedKey psk;
  rng_.Fill(psk.mutable_span());
  // wireguard-go's short form: "peer(" 4 characters "…" 4 characters ")".
  auto name = [](const crypto::PublicKey& key) {
    const std::string b64 = key.ToBase64();
    return "peer(" + b64.substr(0, 4) + "…" + b64.substr(39, 4) + ")";
  };
  const std::string a_name = name(a_.pub), b_name = name(b_.pub);
  // b first: turning on a's keepalive starts the handshake at once.
  ConfigRequest rb;
  rb.private_key = b_.key;
  PeerConfig pa;
  pa.public_key = a_.pub;
  pa.preshared_key = psk;
  pa.allowed_ips = {*Cidr::Parse("10.0.0.1/32")};
  rb.peers.push_back(pa);
  ASSERT_TRUE(b_.device->Apply(rb).ok());
  ConfigRequest ra;
  ra.private_key = a_.key;
  ra.replace_peers = true;
  PeerConfig pb;
  pb.public_key = b_.pub;
  pb.preshared_key = psk;
  pb.endpoint = Endpoint(*IpAddress::Parse("127.0.0.1"), b_.device->listen_port());
  pb.persistent_keepalive_interval = 25;
  pb.replace_allowed_ips = true;
  pb.allowed_ips = {*Cidr::Parse("10.0.0.2/32"), *Cidr::Parse("fd00::2/128")};
  ra.peers.push_back(pb);
  ASSERT_TRUE(a_.device->Apply(ra).ok());

  auto stray = Ipv4Packet("10.0.0.1", "10.9.9.9", 50);
  ASSERT_EQ(::send(a_.tun->peer_fd(), stray.data(), stray.size(), 0), ssize_t(stray.size()));
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), ping);

  // Changes that undo: a moves to another port, its peer b loses its
  // preshared key and keepalive and gets other allowed IPs; then b removes a.
  ConfigRequest undo;
  undo.listen_port = 0;
  PeerConfig pb2;
  pb2.public_key = b_.pub;
  pb2.preshared_key = crypto::PresharedKey();
  pb2.persistent_keepalive_interval = 0;
  pb2.replace_allowed_ips = true;
  pb2.allowed_ips = {*Cidr::Parse("10.0.0.3/32")};
  undo.peers.push_back(pb2);
  ASSERT_TRUE(a_.device->Apply(undo).ok());
  ConfigRequest remove;
  PeerConfig gone;
  gone.public_key = a_.pub;
  gone.remove = true;
  remove.peers.push_back(gone);
  ASSERT_TRUE(b_.device->Apply(remove).ok());
  // Both loops have logged everything before these return.
  (void)a_.device->Snapshot();
  (void)b_.device->Snapshot();

  const std::string log = capture.text();
  const std::string expected[] = {
      "private key updated; public key now ",
      "removing all 0 peers (replace_peers)",
      b_name + ": created",
      b_name + ": preshared key set",
      b_name + ": endpoint set to 127.0.0.1:",
      b_name + ": persistent keepalive every 25 s",
      b_name + ": added 2 allowed IPs: 10.0.0.2/32, fd00::2/128",
      a_name + ": added 1 allowed IP: 10.0.0.1/32",
      b_name + ": sending handshake initiation",
      a_name + ": received handshake initiation",
      a_name + ": sending handshake response",
      a_name + ": keypair created",
      b_name + ": received handshake response",
      b_name + ": keypair created",
      b_name + ": handshake completed",
      a_name + ": handshake completed",
      b_name + ": sending keepalive",
      "dropped a packet for the tunnel: no_route",
      b_name + ": preshared key cleared",
      b_name + ": persistent keepalive off",
      b_name + ": replaced by 1 allowed IP: 10.0.0.3/32",
      "listen port changed to ",
      a_name + ": removed",
  };
  for (const std::string& line : expected) EXPECT_TRUE(Contains(log, line)) << line << "\n" << log;
  // In the order they happened: the peer's own lines first.
  auto at = [&log](const std::string& line) { return log.find(line); };
  EXPECT_LT(at(b_name + ": created"), at(b_name + ": sending handshake initiation")) << log;
  EXPECT_LT(at(b_name + ": sending handshake initiation"),
            at(b_name + ": received handshake response"));
  EXPECT_LT(at(b_name + ": received handshake response"), at(b_name + ": handshake completed"));
  for (const Node* n : {&a_, &b_}) {
    EXPECT_FALSE(Contains(log, HexEncode(n->key.span())));
    EXPECT_FALSE(Contains(log, Base64Encode(n->key.span())));
    EXPECT_FALSE(Contains(log, Base64Encode(n->key.span()).substr(0, 12)));
  }
  EXPECT_FALSE(Contains(log, HexEncode(psk.span())));
  EXPECT_FALSE(Contains(log, Base64Encode(psk.span())));
  EXPECT_FALSE(Contains(log, Base64Encode(psk.span()).substr(0, 12)));
}

// 2,000 new peers cost ~0.4 s of X25519 alone. Applied in one loop turn they
// would stall the data path that long; in steps (apply_plan.h), the loop runs
// its timers between them.
TEST_F(DeviceTest, LargeSetDoesNotStallTheLoop) {
  constexpr int kPeers = 2000;
  ConfigRequest request;
  request.private_key = a_.key;
  for (int i = 0; i < kPeers; ++i) {
    PeerConfig p;
    p.public_key = *crypto::DerivePublicKey(crypto::GeneratePrivateKey(rng_));
    p.allowed_ips = {Cidr(IpAddress::V4(0x0a100000u + uint32_t(i)), 32)};
    request.peers.push_back(std::move(p));
  }
  // A 1 ms timer on the loop records the longest wait between its runs.
  std::mutex mu;
  std::condition_variable cv;
  MonoTime last{};
  Duration longest{};
  int runs = 0;
  // The loop belongs to its thread: the timer is added (and cancelled) there.
  net::TimerId timer;
  loop_->Post([&] {
    auto added = loop_->AddTimer(std::chrono::milliseconds(1), std::chrono::milliseconds(1), [&] {
      std::lock_guard lock(mu);
      const MonoTime t = BootClock::now();
      if (runs > 0) longest = std::max(longest, t - last);
      last = t;
      ++runs;
      cv.notify_all();
    });
    std::lock_guard lock(mu);
    if (added.ok()) timer = *added;
  });
  // Waits (bounded) until the timer has run `n` more times.
  auto wait_runs = [&](int n) {
    std::unique_lock lock(mu);
    const int target = runs + n;
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return runs >= target; });
  };
  // No ASSERT until the timer is cancelled: its callback refers to this frame.
  EXPECT_TRUE(wait_runs(2));
  {
    std::lock_guard lock(mu);
    longest = Duration{};
  }
  const MonoTime begin = BootClock::now();
  EXPECT_TRUE(a_.device->Apply(request).ok());
  const Duration took = BootClock::now() - begin;
  EXPECT_TRUE(wait_runs(2));  // a stall shows only once the timer runs again
  {
    std::lock_guard lock(mu);
    EXPECT_LT(longest, std::chrono::milliseconds(100))
        << "the loop was blocked for " << longest.count() / 1000000 << " ms of the "
        << took.count() / 1000000 << " ms the set took";
  }
  std::mutex cancel_mu;
  std::condition_variable cancelled_cv;
  bool cancelled = false;
  loop_->Post([&] {
    {
      std::lock_guard lock(mu);
      loop_->CancelTimer(timer);
    }
    std::lock_guard lock(cancel_mu);
    cancelled = true;
    cancelled_cv.notify_all();
  });
  {
    std::unique_lock lock(cancel_mu);
    cancelled_cv.wait(lock, [&] { return cancelled; });  // the loop runs: bounded
  }
  auto state = a_.device->Snapshot();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->peers.size(), size_t(kPeers));
}

TEST_F(DeviceTest, ControlCallsFailAfterClose) {
  Configure();
  loop_->Stop();
  loop_thread_.join();
  a_.device->Close();
  ConfigRequest r;
  r.fwmark = 1;
  auto res = a_.device->Apply(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ESHUTDOWN);
  // Not an empty state that a caller could take for the real one.
  auto snapshot = a_.device->Snapshot();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.error().code(), ESHUTDOWN);
}

TEST_F(DeviceTest, SnapshotFailsWhenTheLoopDoesNotTakeTheCall) {
  Configure();
  // A device whose loop is stopped: control calls from this thread wait
  // for the loop, then give up.
  auto loop = net::EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  DeviceOptions options;
  auto bind = net::LinuxBind::Open(0, net::ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok());
  options.bind = std::move(*bind);
  options.control_timeout = std::chrono::milliseconds(50);
  auto dev = Device::Create(**loop, std::make_unique<FakeTun>("fake"), clock_,
                            rng_, std::move(options));
  ASSERT_TRUE(dev.ok()) << dev.error().message();
  auto snapshot = (*dev)->Snapshot();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.error().code(), ETIMEDOUT);
  ConfigRequest r;
  r.fwmark = 1;
  auto applied = (*dev)->Apply(r);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().code(), ETIMEDOUT);
}

}  // namespace
}  // namespace zl::device
