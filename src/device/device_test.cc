// Two Devices in one process: fake TUNs (socketpairs), real UDP on loopback,
// configured through the ControlApi from another thread, as the UAPI does.

#include "device/device.h"
#include "device/flow_queue.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "base/bytes.h"
#include "base/log.h"
#include "crypto/blake2s.h"
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

// A net::Bind over a real one that hands over runs of equal-size datagrams
// from one source in one slot, as UDP GRO does (RecvSlot::segment_size).
class CoalescingBind final : public net::Bind {
 public:
  explicit CoalescingBind(std::unique_ptr<net::Bind> inner) : inner_(std::move(inner)) {
    bufs_.assign(net::kMaxBatchSize, std::vector<uint8_t>(65536));
    slots_.resize(net::kMaxBatchSize);
    for (size_t i = 0; i < slots_.size(); ++i) slots_[i].buf = MutableByteSpan(bufs_[i]);
  }

  // The most datagrams one slot has held so far.
  size_t most_segments() const { return most_segments_.load(); }
  bool receive_offload_asked() const { return receive_offload_asked_.load(); }

  uint16_t port() const override { return inner_->port(); }
  net::Waitable waitable(IpAddress::Family family) const override {
    return inner_->waitable(family);
  }
  Result<size_t> Receive(IpAddress::Family family, std::span<net::RecvSlot> slots) override {
    const size_t want = std::min(slots.size(), slots_.size());
    auto n = inner_->Receive(family, std::span(slots_).first(want));
    if (!n.ok() || *n == 0) return n;
    size_t out = 0;
    for (size_t i = 0; i < *n; ++i) {
      const net::RecvSlot& in = slots_[i];
      if (out > 0) {
        net::RecvSlot& o = slots[out - 1];
        const size_t segment = o.segment_size > 0 ? o.segment_size : o.len;
        if (in.from == o.from && in.local == o.local && in.len == segment &&
            o.len + in.len <= o.buf.size()) {
          std::copy_n(in.buf.data(), in.len, o.buf.data() + o.len);
          o.len += in.len;
          o.segment_size = segment;
          most_segments_.store(std::max(most_segments_.load(), o.len / segment));
          continue;
        }
      }
      net::RecvSlot& o = slots[out++];
      std::copy_n(in.buf.data(), in.len, o.buf.data());
      o.len = in.len;
      o.from = in.from;
      o.local = in.local;
      o.segment_size = 0;
    }
    return out;
  }
  Result<size_t> Send(std::span<const net::SendItem> items) override {
    return inner_->Send(items);
  }
  Result<void> SetFwmark(uint32_t mark) override { return inner_->SetFwmark(mark); }
  net::BindOffloads SetOffloads(net::BindOffloads wanted) override {
    receive_offload_asked_.store(wanted.receive);
    return {false, wanted.receive};
  }
  Result<void> Rebind(uint16_t port) override { return inner_->Rebind(port); }

 private:
  std::unique_ptr<net::Bind> inner_;
  std::vector<std::vector<uint8_t>> bufs_;
  std::vector<net::RecvSlot> slots_;
  std::atomic<size_t> most_segments_{0};
  std::atomic<bool> receive_offload_asked_{false};
};

// A TUN that holds packets the test queues and signals its fd only once per
// Kick(), as an offloading TUN holds the rest of a super-packet: what a
// wake-up does not read is never signalled again.
class BurstTun final : public net::TunDevice {
 public:
  BurstTun() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      read_end_.Reset(fds[0]);
      write_end_.Reset(fds[1]);
    }
  }
  void Queue(std::vector<uint8_t> packet) {
    std::lock_guard lock(mu_);
    packets_.push_back(std::move(packet));
  }
  void Kick() { (void)!::write(write_end_.get(), "x", 1); }

  const std::string& name() const override { return name_; }
  int index() const override { return 0; }
  net::Waitable waitable() const override { return read_end_.get(); }
  Result<size_t> ReadBatch(std::span<net::TunPacket> packets) override {
    char drain[64];
    while (::read(read_end_.get(), drain, sizeof(drain)) > 0) {
    }
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (; n < packets.size() && !packets_.empty(); ++n) {
      const auto& p = packets_.front();
      std::copy(p.begin(), p.end(), packets[n].buf.begin());
      packets[n].len = p.size();
      packets_.pop_front();
    }
    return n;
  }
  Result<void> Write(ByteSpan) override { return Ok(); }
  Result<int> Mtu() const override { return net::kDefaultTunMtu; }
  Result<void> SetMtu(int) override { return Ok(); }
  Result<void> SetUp() override { return Ok(); }

 private:
  std::string name_ = "burst";
  UniqueFd read_end_, write_end_;
  std::mutex mu_;
  std::deque<std::vector<uint8_t>> packets_;
};

// Sends handshake initiations with a valid mac1 for `responder` (the costly
// kind: each takes a DH, or under load a cookie reply) to 127.0.0.1:`port`
// from its own socket on `source`, until stopped, `max` are sent or 30 s
// have passed.
class HandshakeFlood {
 public:
  HandshakeFlood(const crypto::PublicKey& responder, const char* source, uint16_t port,
                 size_t max) {
    fd_.Reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    ok_ = fd_.get() >= 0 &&
          ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0;
    const crypto::Hash key = crypto::Blake2s(
        {ByteSpan(reinterpret_cast<const uint8_t*>("mac1----"), 8), responder.span()});
    thread_ = std::thread([this, key, port, max] {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(port);
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      std::vector<uint8_t> m(148, 0x5a);
      m[1] = m[2] = m[3] = 0;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      for (size_t i = 0; ok_ && i < max && !stop_.load(); ++i) {
        m[0] = 1;
        StoreLe32(&m[4], uint32_t(i));  // sender index
        StoreLe32(&m[8], uint32_t(i));  // "ephemeral"
        const crypto::Mac mac1 = crypto::Blake2sMac(ByteSpan(key), {ByteSpan(m).first(116)});
        std::copy(mac1.begin(), mac1.end(), m.begin() + 116);
        if (::sendto(fd_.get(), m.data(), m.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)) == ssize_t(m.size())) {
          sent_.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
        if ((i & 1023) == 0 && std::chrono::steady_clock::now() > deadline) break;
      }
    });
  }
  ~HandshakeFlood() { Stop(); }
  bool ok() const { return ok_; }
  size_t sent() const { return sent_.load(); }
  // Waits (at most 10 s) until `n` are sent.
  bool WaitSent(size_t n) const {
    for (int i = 0; i < 1000 && sent() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return sent() >= n;
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  UniqueFd fd_;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> sent_{0};
  std::thread thread_;
};

// A reproducible Rng that any thread may use, as a device's engine does
// from each of the device's threads, concurrently.
class LockedRng final : public crypto::Rng {
 public:
  explicit LockedRng(uint64_t seed) : inner_(seed) {}
  void Fill(MutableByteSpan out) override {
    std::lock_guard lock(mu_);
    inner_.Fill(out);
  }

 private:
  std::mutex mu_;
  crypto::DeterministicRng inner_;
};

struct Node {
  // Each device's own.
  std::unique_ptr<LockedRng> rng;
  FakeTun* tun = nullptr;
  std::unique_ptr<Device> device;
  crypto::PrivateKey key;
  crypto::PublicKey pub;
};

// The parameter: data threads and handshake workers of both devices (1:
// everything on the loop thread and one handshake worker, as before issue
// 11's "both cores"; 2: a crypto worker and two handshake workers).
class DeviceTest : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override {
    auto loop = net::EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    for (int which : {0, 1}) {
      Node* n = which == 0 ? &a_ : &b_;
      n->rng = std::make_unique<LockedRng>(100 + which);
      n->key = crypto::GeneratePrivateKey(rng_);
      n->pub = *crypto::DerivePublicKey(n->key);
      std::unique_ptr<net::TunDevice> tun = MakeTun(which, *n);
      DeviceOptions options;
      auto bind = net::LinuxBind::Open(0, net::ListenAddresses::Loopback());
      ASSERT_TRUE(bind.ok()) << bind.error().message();
      options.bind = std::move(*bind);
      options.data_threads = GetParam();
      options.handshake_workers = GetParam();
      Customize(which, options);
      auto dev = Device::Create(*loop_, std::move(tun), clock_, *n->rng, std::move(options));
      ASSERT_TRUE(dev.ok()) << dev.error().message();
      n->device = std::move(*dev);
    }
    loop_thread_ = std::thread([this] { (void)loop_->Run(); });
  }

  // Hooks for fixtures of single tests: node `which`'s TUN (0: a, 1: b;
  // sets n.tun for a FakeTun) and its options.
  virtual std::unique_ptr<net::TunDevice> MakeTun(int /*which*/, Node& n) {
    auto tun = std::make_unique<FakeTun>("fake");
    n.tun = tun.get();
    return tun;
  }
  virtual void Customize(int /*which*/, DeviceOptions& /*options*/) {}

  // Sends `packets` into a's TUN while the loop is held, so that one wake-up
  // reads them as one batch, then checks that each reaches b's TUN, in order.
  void SendBurstAndExpectInOrder(const std::vector<std::vector<uint8_t>>& packets) {
    auto release = HoldLoop();
    for (const auto& p : packets) {
      ASSERT_EQ(::send(a_.tun->peer_fd(), p.data(), p.size(), 0), ssize_t(p.size()));
    }
    release();
    for (size_t i = 0; i < packets.size(); ++i) {
      ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), packets[i]) << i;
    }
  }

  // Holds the loop (bounded) until the returned function is called, so the
  // test can queue several packets that the loop then takes in one batch.
  std::function<void()> HoldLoop() {
    auto state = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
    auto released = std::make_shared<bool>(false);
    auto held = std::make_shared<std::promise<void>>();
    auto held_future = held->get_future();
    loop_->Post([state, released, held] {
      held->set_value();
      std::unique_lock lock(state->first);
      state->second.wait_for(lock, std::chrono::seconds(5), [&] { return *released; });
    });
    held_future.wait_for(std::chrono::seconds(5));
    return [state, released] {
      std::lock_guard lock(state->first);
      *released = true;
      state->second.notify_all();
    };
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

TEST_P(DeviceTest, PacketCrossesTheTunnelBothWaysAndResponderLearnsEndpoint) {
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

TEST_P(DeviceTest, PacketToAddressOutsideAllowedIpsIsNotSent) {
  Configure();
  auto stray = Ipv4Packet("10.0.0.1", "10.9.9.9", 50);
  ASSERT_EQ(::send(a_.tun->peer_fd(), stray.data(), stray.size(), 0), ssize_t(stray.size()));
  EXPECT_TRUE(ReadPacket(b_.tun->peer_fd(), 300).empty());
  EXPECT_EQ(b_.device->Snapshot()->peers[0].rx_bytes, 0u);
}

TEST_P(DeviceTest, PaddingNeverTakesAFullSizePacketPastTheMtu) {
  Configure();
  // 1420 is not a multiple of 16: padded freely it would become 1424.
  auto full = Ipv4Packet("10.0.0.1", "10.0.0.2", net::kDefaultTunMtu - 20);
  ASSERT_EQ(::send(a_.tun->peer_fd(), full.data(), full.size(), 0), ssize_t(full.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), full);
  // b received the 148-byte initiation and one transport datagram.
  EXPECT_EQ(b_.device->Snapshot()->peers[0].rx_bytes, 148u + net::kDefaultTunMtu + 32u);
}

TEST_P(DeviceTest, ListenPortChangeRebindsAndTrafficFollows) {
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
TEST_P(DeviceTest, VerboseLogTellsEachChangeAndHandshakeStepButNoSecret) {
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
TEST_P(DeviceTest, LargeSetDoesNotStallTheLoop) {
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

TEST_P(DeviceTest, ControlCallsFailAfterClose) {
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

TEST_P(DeviceTest, SnapshotFailsWhenTheLoopDoesNotTakeTheCall) {
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

// After the handshake, 20 packets read in one batch on a arrive at b in one
// receive batch and reach b's TUN in one WriteBatch.
TEST_P(DeviceTest, DecryptedBatchReachesTheTunInOneWriteBatch) {
  Configure();
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), ping);

  constexpr size_t kPackets = 20;
  std::vector<std::vector<uint8_t>> sent;
  for (size_t i = 0; i < kPackets; ++i) sent.push_back(Ipv4Packet("10.0.0.1", "10.0.0.2", 100 + i));
  ASSERT_NO_FATAL_FAILURE(SendBurstAndExpectInOrder(sent));
  const std::vector<size_t> batches = b_.tun->write_batch_sizes();
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(*std::max_element(batches.begin(), batches.end()), kPackets);
}

// b's bind hands over equal-size datagrams from a in one slot (as UDP GRO
// does): every segment is decrypted and delivered, in order.
class DeviceCoalescedReceiveTest : public DeviceTest {
 protected:
  void Customize(int which, DeviceOptions& options) override {
    if (which != 1) return;
    auto bind = std::make_unique<CoalescingBind>(std::move(options.bind));
    coalescing_ = bind.get();
    options.bind = std::move(bind);
  }
  CoalescingBind* coalescing_ = nullptr;
};

TEST_P(DeviceCoalescedReceiveTest, EverySegmentOfACoalescedSlotIsDelivered) {
  ASSERT_TRUE(coalescing_->receive_offload_asked());
  Configure();
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), ping);

  constexpr size_t kPackets = 20;
  std::vector<std::vector<uint8_t>> sent;
  for (size_t i = 0; i < kPackets; ++i) {
    sent.push_back(Ipv4Packet("10.0.0.1", "10.0.0.2", 1000));
    sent.back()[20] = uint8_t(i);  // tells them apart
  }
  ASSERT_NO_FATAL_FAILURE(SendBurstAndExpectInOrder(sent));
  EXPECT_EQ(coalescing_->most_segments(), kPackets);
}

// a's TUN holds more full batches than one wake-up reads and signals its fd
// only once: the device goes on reading without readiness until it is empty.
class DeviceBurstTunTest : public DeviceTest {
 protected:
  std::unique_ptr<net::TunDevice> MakeTun(int which, Node& n) override {
    if (which != 0) return DeviceTest::MakeTun(which, n);
    auto tun = std::make_unique<BurstTun>();
    burst_ = tun.get();
    return tun;
  }
  void Customize(int which, DeviceOptions& options) override {
    if (which == 0) options.batch_size = 8;
  }
  BurstTun* burst_ = nullptr;
};

TEST_P(DeviceBurstTunTest, FullBatchesBeyondOneWakeupAreAllRead) {
  Configure();
  // 4 rounds of 8 per wake-up: 99 packets need 13 batches.
  constexpr size_t kPackets = 99;
  std::vector<std::vector<uint8_t>> sent;
  for (size_t i = 0; i < kPackets; ++i) {
    sent.push_back(Ipv4Packet("10.0.0.1", "10.0.0.2", 100));
    sent.back()[20] = uint8_t(i);
    burst_->Queue(sent.back());
  }
  burst_->Kick();
  for (size_t i = 0; i < kPackets; ++i) {
    ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), sent[i]) << i;
  }
}

// b's handshake queue is small and a flood of costly initiations (valid
// mac1) from one source keeps it full: the handshake worker does the work,
// the loop thread only copies, and data keeps flowing.
class DeviceHandshakeFloodTest : public DeviceTest {
 protected:
  void Customize(int which, DeviceOptions& options) override {
    if (which == 1) options.handshake_queue_size = 256;
  }
};

TEST_P(DeviceHandshakeFloodTest, DataKeepsFlowingWhileAFloodOverflowsTheQueue) {
  Configure();
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), ping);

  HandshakeFlood flood(b_.pub, "127.0.0.1", b_.device->listen_port(), 3'000'000);
  ASSERT_TRUE(flood.ok());
  ASSERT_TRUE(flood.WaitSent(20'000));  // far more than the queue holds
  constexpr int kPings = 50;
  int arrived = 0;
  for (int i = 0; i < kPings; ++i) {
    auto p = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
    p[20] = uint8_t(i);
    ASSERT_EQ(::send(a_.tun->peer_fd(), p.data(), p.size(), 0), ssize_t(p.size()));
    if (ReadPacket(b_.tun->peer_fd(), 1000) == p) ++arrived;
  }
  const size_t sent = flood.sent();
  flood.Stop();
  EXPECT_GE(arrived, kPings * 95 / 100) << "flood messages sent meanwhile: " << sent;
}

// A flood from one address (127.0.0.2) does not keep a peer at another
// (127.0.0.1) from its first handshake: above half full, the queue sheds
// the flooding source, and the peer's messages still get in.
TEST_P(DeviceHandshakeFloodTest, NewPeerCompletesAHandshakeDuringAFloodFromAnotherSource) {
  HandshakeFlood flood(b_.pub, "127.0.0.2", b_.device->listen_port(), 5'000'000);
  ASSERT_TRUE(flood.ok());
  ASSERT_TRUE(flood.WaitSent(20'000));
  Configure();
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  // Under load, b answers the first initiation with a cookie; a's retry
  // (after REKEY_TIMEOUT, 5 s) carries mac2.
  EXPECT_EQ(ReadPacket(b_.tun->peer_fd(), 15000), ping);
}

// Close stops and joins the worker while it is busy with a flood.
TEST_P(DeviceHandshakeFloodTest, CloseReturnsWhileTheWorkerIsBusy) {
  Configure();
  HandshakeFlood flood(b_.pub, "127.0.0.1", b_.device->listen_port(), 3'000'000);
  ASSERT_TRUE(flood.ok());
  ASSERT_TRUE(flood.WaitSent(5'000));
  loop_->Stop();
  loop_thread_.join();
  const auto begin = std::chrono::steady_clock::now();
  b_.device->Close();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(2));
  flood.Stop();
  auto snapshot = b_.device->Snapshot();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.error().code(), ESHUTDOWN);
}

// --- both cores (issue 11): batches shared with a crypto worker ---

// A packet of `flow` (its first payload bytes) numbered `seq`, `payload`
// bytes of UDP payload in all.
std::vector<uint8_t> FlowPacket(uint8_t flow, uint32_t seq, size_t payload) {
  auto p = Ipv4Packet("10.0.0.1", "10.0.0.2", payload);
  p[20] = flow;
  StoreBe32(&p[24], seq);
  return p;
}

// Both devices have two data threads, and every batch shared with the
// crypto worker waits for it to take a chunk, so the worker surely encrypts
// and decrypts some of each big batch. a reads its TUN in batches of 16.
class DeviceTwoCoresTest : public DeviceBurstTunTest {
 protected:
  void Customize(int which, DeviceOptions& options) override {
    options.data_threads = 2;
    options.crypto_worker_first_for_testing = true;
    if (which == 0) options.batch_size = 16;
  }
  // Handshake done: a's first packet (queued while it waited) reached b.
  void Handshake() {
    ASSERT_NO_FATAL_FAILURE(Configure());
    auto first = FlowPacket(9, 0, 64);
    burst_->Queue(first);
    burst_->Kick();
    ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), first);
  }
};

// 2,000 packets from a's TUN, read in batches of 16 and encrypted on both
// threads, reach b's TUN (decrypted on both threads too) complete and in
// order. Sent in rounds of 100, so the fake TUNs' socket buffers never
// overflow.
TEST_P(DeviceTwoCoresTest, LargeBurstFromTheTunArrivesCompleteAndInOrder) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  constexpr uint32_t kRounds = 20, kPerRound = 100;
  for (uint32_t round = 0; round < kRounds; ++round) {
    std::vector<std::vector<uint8_t>> sent;
    for (uint32_t i = 0; i < kPerRound; ++i) {
      sent.push_back(FlowPacket(1, round * kPerRound + i, 200 + i % 7));
      burst_->Queue(sent.back());
    }
    burst_->Kick();
    for (uint32_t i = 0; i < kPerRound; ++i) {
      ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), sent[i]) << round << " " << i;
    }
  }
  const DeviceCounters ca = a_.device->counters();
  EXPECT_GE(ca.split_batches, kRounds * (kPerRound / 16));
  EXPECT_GT(ca.worker_packets, 0u);
  EXPECT_LT(ca.worker_packets, uint64_t(kRounds * kPerRound));
  EXPECT_EQ(ca.send_errors + ca.send_dropped_full, 0u);
  EXPECT_GT(b_.device->counters().worker_packets, 0u);
}

// Before the first handshake, the engine stages a's packets: a burst read
// then stays on the loop thread, so the packets are staged, and sent once
// the handshake completes, in the order they were read.
TEST_P(DeviceTwoCoresTest, PacketsStagedForTheFirstHandshakeKeepTheirOrder) {
  ASSERT_NO_FATAL_FAILURE(Configure());
  std::vector<std::vector<uint8_t>> sent;
  for (uint32_t i = 0; i < 100; ++i) {  // within the staging queue (128)
    sent.push_back(FlowPacket(1, i, 100));
    burst_->Queue(sent.back());
  }
  burst_->Kick();
  for (uint32_t i = 0; i < sent.size(); ++i) {
    ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), sent[i]) << i;
  }
}

// Small bursts (below the split size of 8) stay on the loop thread: no
// batch is shared, the worker touches no packet.
TEST_P(DeviceTwoCoresTest, BatchesBelowTheSplitSizeStayOnTheLoopThread) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  for (uint32_t round = 0; round < 5; ++round) {
    std::vector<std::vector<uint8_t>> sent;
    for (uint32_t i = 0; i < 5; ++i) {
      sent.push_back(FlowPacket(1, round * 5 + i, 100));
      burst_->Queue(sent.back());
    }
    burst_->Kick();
    for (uint32_t i = 0; i < 5; ++i) ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), sent[i]) << i;
  }
  for (const Node* n : {&a_, &b_}) {
    const DeviceCounters c = n->device->counters();
    EXPECT_EQ(c.split_batches, 0u);
    EXPECT_EQ(c.worker_packets, 0u);
  }
}

// Close, right after the loop stopped in the middle of a long burst (the
// crypto worker spinning or asleep, batches left in the TUN), joins the
// worker and returns.
TEST_P(DeviceTwoCoresTest, CloseWhileABurstIsUnderWayJoinsTheWorkerAndReturns) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  for (uint32_t i = 0; i < 20'000; ++i) burst_->Queue(FlowPacket(1, i, 100));
  burst_->Kick();
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(ReadPacket(b_.tun->peer_fd()).empty()) << i;
  loop_->Stop();
  loop_thread_.join();
  EXPECT_GT(a_.device->counters().worker_packets, 0u);
  const auto begin = std::chrono::steady_clock::now();
  a_.device->Close();
  b_.device->Close();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(2));
  auto snapshot = a_.device->Snapshot();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.error().code(), ESHUTDOWN);
}

// b's bind hands over a's burst as one GRO slot: its 48 segments, of three
// interleaved flows, are decrypted on both threads and written to b's TUN
// in one WriteBatch, complete, each flow in order.
class DeviceTwoCoresCoalescedTest : public DeviceCoalescedReceiveTest {
 protected:
  void Customize(int which, DeviceOptions& options) override {
    DeviceCoalescedReceiveTest::Customize(which, options);
    options.data_threads = 2;
    options.crypto_worker_first_for_testing = true;
  }
};

TEST_P(DeviceTwoCoresCoalescedTest, ReceivedBurstIsWrittenCompleteAndInPerFlowOrder) {
  Configure();
  auto ping = Ipv4Packet("10.0.0.1", "10.0.0.2", 64);
  ASSERT_EQ(::send(a_.tun->peer_fd(), ping.data(), ping.size(), 0), ssize_t(ping.size()));
  ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), ping);

  constexpr uint32_t kPackets = 48;
  auto release = HoldLoop();
  for (uint32_t i = 0; i < kPackets; ++i) {
    const auto p = FlowPacket(uint8_t(i % 3), i / 3, 1000);
    ASSERT_EQ(::send(a_.tun->peer_fd(), p.data(), p.size(), 0), ssize_t(p.size()));
  }
  release();
  uint32_t next_seq[3] = {0, 0, 0};
  for (uint32_t i = 0; i < kPackets; ++i) {
    const auto p = ReadPacket(b_.tun->peer_fd());
    ASSERT_EQ(p.size(), 1020u) << i;
    const uint8_t flow = p[20];
    ASSERT_LT(flow, 3);
    EXPECT_EQ(LoadBe32(&p[24]), next_seq[flow]) << "flow " << int(flow);
    next_seq[flow] = LoadBe32(&p[24]) + 1;
  }
  for (uint32_t f = 0; f < 3; ++f) EXPECT_EQ(next_seq[f], kPackets / 3) << f;
  EXPECT_EQ(coalescing_->most_segments(), kPackets);
  const DeviceCounters cb = b_.device->counters();
  EXPECT_GE(cb.split_batches, 1u);
  EXPECT_GT(cb.worker_packets, 0u);
  const std::vector<size_t> batches = b_.tun->write_batch_sizes();
  EXPECT_EQ(*std::max_element(batches.begin(), batches.end()), kPackets);
}

// --- a multi-queue TUN (tun_queues): queues 1.. read by queue readers ---

// Threads of this process now (Linux: /proc/self/task).
size_t ThreadsNow() {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)e;
    ++n;
  }
  return n;
}

// The names of this process's threads (/proc/self/task/*/comm).
std::multiset<std::string> ThreadNames() {
  std::multiset<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.insert(name);
  }
  return names;
}

// Feeds packets of flow `queue` into each of `fds` (dup'd test ends of a's
// TUN queues), as fast as the sockets take them, until stopped or 30 s
// have passed. Never raises SIGPIPE: the device may close its ends first.
class QueueFeeder {
 public:
  explicit QueueFeeder(std::vector<std::pair<uint8_t, int>> queues) {
    for (auto& [flow, fd] : queues) fds_.emplace_back(flow, UniqueFd(::dup(fd)));
    thread_ = std::thread([this] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      for (uint32_t seq = 0; !stop_.load() && std::chrono::steady_clock::now() < deadline;
           ++seq) {
        bool any = false;
        for (auto& [flow, fd] : fds_) {
          const auto p = FlowPacket(flow, seq, 200);
          if (::send(fd.get(), p.data(), p.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
            sent_.fetch_add(1);
            any = true;
          }
        }
        if (!any) std::this_thread::yield();
      }
    });
  }
  ~QueueFeeder() { Stop(); }
  size_t sent() const { return sent_.load(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::vector<std::pair<uint8_t, UniqueFd>> fds_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> sent_{0};
  std::thread thread_;
};

// a's TUN has three queues: 0 read by the loop, 1 and 2 by queue readers.
class DeviceTunQueuesTest : public DeviceTest {
 protected:
  static constexpr size_t kQueues = 3;
  std::unique_ptr<net::TunDevice> MakeTun(int which, Node& n) override {
    if (which != 0) return DeviceTest::MakeTun(which, n);
    auto tun = std::make_unique<FakeTun>("fake", kQueues);
    n.tun = tun.get();
    return tun;
  }
  void Customize(int which, DeviceOptions& options) override {
    if (which == 0) options.tun_queues = kQueues;
  }
  int queue_fd(size_t i) const { return a_.tun->queue_peer_fd(i); }
  // Handshake done: a ping on queue 0 reached b.
  void Handshake() {
    ASSERT_NO_FATAL_FAILURE(Configure());
    auto ping = FlowPacket(9, 0, 64);
    ASSERT_EQ(::send(queue_fd(0), ping.data(), ping.size(), 0), ssize_t(ping.size()));
    ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), ping);
  }
  // Reads b's TUN until nothing came for 200 ms (bounded).
  void DrainB() {
    for (int i = 0; i < 100'000 && !ReadPacket(b_.tun->peer_fd(), 200).empty(); ++i) {
    }
  }
  // Reads b's TUN (bounded) until `packet` comes; false if it never does.
  bool ReadUntil(const std::vector<uint8_t>& packet) {
    for (int i = 0; i < 100'000; ++i) {
      auto p = ReadPacket(b_.tun->peer_fd());
      if (p.empty()) return false;
      if (p == packet) return true;
    }
    return false;
  }
};

TEST_P(DeviceTunQueuesTest, PacketsFromEveryQueueArriveCompleteEachQueueInOrder) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  // Flow q on queue q; in rounds, so the fake TUNs' socket buffers never
  // overflow.
  constexpr uint32_t kRounds = 4, kPerQueue = 50;
  uint32_t next_seq[kQueues] = {0, 0, 0};
  for (uint32_t round = 0; round < kRounds; ++round) {
    for (uint32_t i = 0; i < kPerQueue; ++i) {
      for (uint8_t q = 0; q < kQueues; ++q) {
        const auto p = FlowPacket(q, round * kPerQueue + i, 100 + i % 5);
        ASSERT_EQ(::send(queue_fd(q), p.data(), p.size(), 0), ssize_t(p.size()));
      }
    }
    for (uint32_t i = 0; i < kQueues * kPerQueue; ++i) {
      const auto p = ReadPacket(b_.tun->peer_fd());
      ASSERT_GE(p.size(), 28u) << round << " " << i;
      const uint8_t flow = p[20];
      ASSERT_LT(flow, kQueues);
      ASSERT_EQ(LoadBe32(&p[24]), next_seq[flow]) << "queue " << int(flow);
      ASSERT_EQ(p, FlowPacket(flow, next_seq[flow], 100 + next_seq[flow] % kPerQueue % 5));
      ++next_seq[flow];
    }
  }
  for (size_t q = 0; q < kQueues; ++q) EXPECT_EQ(next_seq[q], kRounds * kPerQueue) << q;
  const DeviceCounters ca = a_.device->counters();
  EXPECT_EQ(ca.queue_packets, uint64_t(2 * kRounds * kPerQueue));
  EXPECT_EQ(ca.send_errors + ca.send_dropped_full, 0u);
  EXPECT_EQ(b_.device->counters().queue_packets, 0u);
}

// Decrypted packets are written through the queue of their flow
// (QueueOfFlow), so the kernel steers each flow's replies to that queue's
// reader: every flow's packets come out of one queue, the one QueueOfFlow
// names, complete and in order, and the flows use every queue.
TEST_P(DeviceTunQueuesTest, DecryptedPacketsAreWrittenThroughTheQueueOfTheirFlow) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  // b → a: flow f is UDP from source port f << 8.
  auto FlowPacket = [](uint8_t flow, uint32_t seq, size_t payload) {
    auto p = Ipv4Packet("10.0.0.2", "10.0.0.1", payload);
    p[6] = 0x40;  // DF, no fragment: the ports count
    p[7] = 0;
    p[20] = flow;
    StoreBe32(&p[24], seq);
    return p;
  };
  constexpr uint8_t kFlows = 24;
  constexpr uint32_t kPerFlow = 8;
  for (uint32_t i = 0; i < kPerFlow; ++i) {
    for (uint8_t f = 0; f < kFlows; ++f) {
      const auto p = FlowPacket(f, i, 80);
      ASSERT_EQ(::send(b_.tun->peer_fd(), p.data(), p.size(), 0), ssize_t(p.size()));
    }
  }
  uint32_t next_seq[kFlows] = {};
  std::set<size_t> used;
  size_t received = 0;
  for (int rounds = 0; rounds < 1000 && received < size_t(kFlows) * kPerFlow; ++rounds) {
    pollfd fds[kQueues];
    for (size_t q = 0; q < kQueues; ++q) fds[q] = pollfd{queue_fd(q), POLLIN, 0};
    ASSERT_GT(::poll(fds, kQueues, 5000), 0) << "received " << received;
    for (size_t q = 0; q < kQueues; ++q) {
      if ((fds[q].revents & POLLIN) == 0) continue;
      const auto p = ReadPacket(queue_fd(q), 0);
      ASSERT_GE(p.size(), 28u);
      const uint8_t flow = p[20];
      ASSERT_LT(flow, kFlows);
      EXPECT_EQ(q, QueueOfFlow(ByteSpan(p), kQueues)) << "flow " << int(flow);
      ASSERT_EQ(p, FlowPacket(flow, next_seq[flow], 80)) << "flow " << int(flow);
      ++next_seq[flow];
      used.insert(q);
      ++received;
    }
  }
  EXPECT_EQ(received, size_t(kFlows) * kPerFlow);
  EXPECT_EQ(used.size(), kQueues);
}

// Each of the devices' threads is named after its job, so top -H and perf
// tell them apart: a's two queue readers, and on both devices the handshake
// workers and (with 2 data threads) the crypto worker.
TEST_P(DeviceTunQueuesTest, ThreadsAreNamedAfterTheirJob) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  const std::multiset<std::string> names = ThreadNames();
  EXPECT_EQ(names.count("zl-tunq-1"), 1u);
  EXPECT_EQ(names.count("zl-tunq-2"), 1u);
  EXPECT_EQ(names.count("zl-handshake-1"), 2u);  // a's and b's
  EXPECT_EQ(names.count("zl-handshake-2"), GetParam() >= 2 ? 2u : 0u);
  EXPECT_EQ(names.count("zl-crypto-1"), GetParam() >= 2 ? 2u : 0u);
}

// Before the first handshake, the packets a queue reader reads are staged
// and sent once the handshake completes, none lost, in order.
TEST_P(DeviceTunQueuesTest, PacketsStagedByAQueueReaderArriveAfterTheFirstHandshake) {
  ASSERT_NO_FATAL_FAILURE(Configure());
  std::vector<std::vector<uint8_t>> sent;
  for (uint32_t i = 0; i < 100; ++i) {  // within the staging queue (128)
    sent.push_back(FlowPacket(1, i, 100));
    ASSERT_EQ(::send(queue_fd(1), sent.back().data(), sent.back().size(), 0),
              ssize_t(sent.back().size()));
  }
  for (uint32_t i = 0; i < sent.size(); ++i) {
    ASSERT_EQ(ReadPacket(b_.tun->peer_fd()), sent[i]) << i;
  }
  EXPECT_EQ(a_.device->counters().queue_packets, sent.size());
}

// Close, while the readers are busy with a stream (the loop stopped), joins
// them and returns promptly.
TEST_P(DeviceTunQueuesTest, CloseWhileTheReadersAreBusyReturnsPromptly) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  QueueFeeder feeder({{1, queue_fd(1)}, {2, queue_fd(2)}});
  for (int i = 0; i < 1000 && a_.device->counters().queue_packets < 2000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(a_.device->counters().queue_packets, 2000u);
  loop_->Stop();
  loop_thread_.join();
  const auto begin = std::chrono::steady_clock::now();
  a_.device->Close();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(2));
  const uint64_t read = a_.device->counters().queue_packets;
  feeder.Stop();
  EXPECT_EQ(a_.device->counters().queue_packets, read);  // nothing read after Close
}

// a changes its listen port while its readers send a stream: the readers'
// sends wait for the rebind (bind_mu), and traffic follows the new port
// (b learns it by roaming).
TEST_P(DeviceTunQueuesTest, ListenPortChangeWhileTheReadersSend) {
  ASSERT_NO_FATAL_FAILURE(Handshake());
  const uint16_t old_port = a_.device->listen_port();
  {
    QueueFeeder feeder({{1, queue_fd(1)}, {2, queue_fd(2)}});
    for (int i = 0; i < 1000 && a_.device->counters().queue_packets < 500; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (int change = 0; change < 3; ++change) {
      ConfigRequest ra;
      ra.listen_port = 0;
      ASSERT_TRUE(a_.device->Apply(ra).ok());
    }
    feeder.Stop();
    EXPECT_GT(feeder.sent(), 500u);
  }
  EXPECT_NE(a_.device->Snapshot()->listen_port, old_port);
  // The stream's tail, read from the queues after the feeder stopped, may
  // still overflow b's TUN: let it pass before the last packet.
  DrainB();
  const auto last = FlowPacket(7, 0, 64);
  ASSERT_EQ(::send(queue_fd(1), last.data(), last.size(), 0), ssize_t(last.size()));
  EXPECT_TRUE(ReadUntil(last));
}

// A TUN that cannot open the queues asked for: Create fails, names the
// queue, and leaves nothing behind (no thread; the queues it opened closed).
TEST(DeviceTunQueuesCreateTest, SingleQueueTunFailsNamingTheQueue) {
  auto loop = net::EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  SystemClock clock;
  LockedRng rng(7);
  const size_t threads_before = ThreadsNow();
  DeviceOptions options;
  auto bind = net::LinuxBind::Open(0, net::ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok());
  options.bind = std::move(*bind);
  options.tun_queues = 2;
  auto dev = Device::Create(**loop, std::make_unique<FakeTun>("fake"), clock, rng,
                            std::move(options));
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code(), ENOTSUP);
  EXPECT_NE(dev.error().message().find("TUN queue 1 of 2"), std::string::npos)
      << dev.error().message();
  EXPECT_EQ(ThreadsNow(), threads_before);
}

TEST(DeviceTunQueuesCreateTest, QueueThatFailsToOpenClosesTheOnesOpenedBefore) {
  auto loop = net::EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  SystemClock clock;
  LockedRng rng(7);
  const size_t threads_before = ThreadsNow();
  auto tun = std::make_unique<FakeTun>("fake", 2);  // queues 0 and 1 only
  UniqueFd queue1(::dup(tun->queue_peer_fd(1)));
  DeviceOptions options;
  auto bind = net::LinuxBind::Open(0, net::ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok());
  options.bind = std::move(*bind);
  options.tun_queues = 3;
  auto dev = Device::Create(**loop, std::move(tun), clock, rng, std::move(options));
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message().find("TUN queue 2 of 3"), std::string::npos)
      << dev.error().message();
  EXPECT_EQ(ThreadsNow(), threads_before);
  // Queue 1 was opened, then closed: its test end reads end-of-file.
  char byte;
  EXPECT_EQ(::recv(queue1.get(), &byte, 1, MSG_DONTWAIT), 0);
}


std::string ThreadsName(const ::testing::TestParamInfo<size_t>& info) {
  return info.param == 1 ? std::string("LoopThreadOnly") : std::to_string(info.param) + "DataThreads";
}

INSTANTIATE_TEST_SUITE_P(Threads, DeviceTest, ::testing::Values(1, 2), ThreadsName);
INSTANTIATE_TEST_SUITE_P(Threads, DeviceCoalescedReceiveTest, ::testing::Values(1, 2),
                         ThreadsName);
INSTANTIATE_TEST_SUITE_P(Threads, DeviceBurstTunTest, ::testing::Values(1, 2), ThreadsName);
INSTANTIATE_TEST_SUITE_P(Threads, DeviceHandshakeFloodTest, ::testing::Values(1, 2),
                         ThreadsName);
INSTANTIATE_TEST_SUITE_P(Threads, DeviceTunQueuesTest, ::testing::Values(1, 2), ThreadsName);
// These set two data threads themselves; the parameter is the handshake
// workers'.
INSTANTIATE_TEST_SUITE_P(HandshakeWorkers, DeviceTwoCoresTest, ::testing::Values(2));
INSTANTIATE_TEST_SUITE_P(HandshakeWorkers, DeviceTwoCoresCoalescedTest, ::testing::Values(2));

}  // namespace
}  // namespace zl::device
