#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "net/linux_tun.h"
#include "net/netlink.h"
#include "net/test_util.h"
#include "net/tun_test_packets.h"
#include "support/netns.h"

// Topology (one private namespace per test):
//
//   UDP socket 10.9.0.1 ──► kernel ──► zl0 (TUN, 10.9.0.1/24) ──► ReadBatch
//   UDP socket 10.9.0.1 ◄── kernel ◄── zl0 ◄── Write (packets from 10.9.0.2)
//
// The offload tests use 10.0.0.1/24 and fd00::1/64 on zl0 (the addresses
// tun_test_packets.h builds), the peer behind the TUN being .2 / ::2.
//
// The kernel may also route IPv6 link-local chatter (MLD, router
// solicitations) to zl0 once it is up; readers filter for their packet.

namespace zl::net {
namespace {

using testing::Ip;
using testing::OpenUdp;
using testing::ReceiveFrom;
using testing::SendTo;
using testing::Shell;
using testing::WaitReadable;

struct UdpV4 {
  IpAddress src, dst;
  uint16_t src_port, dst_port;
  std::string payload;
};

std::optional<UdpV4> ParseUdpV4(ByteSpan packet) {
  if (packet.size() < 20 || packet[0] >> 4 != 4 || packet[9] != 17)
    return std::nullopt;
  const size_t ihl = (packet[0] & 0x0f) * 4u;
  if (packet.size() < ihl + 8) return std::nullopt;
  return UdpV4{
      IpAddress::V4(&packet[12]), IpAddress::V4(&packet[16]),
      LoadBe16(&packet[ihl]), LoadBe16(&packet[ihl + 2]),
      std::string(packet.begin() + static_cast<long>(ihl + 8), packet.end())};
}

// An IPv4/UDP packet with a valid header checksum and no UDP checksum.
std::vector<uint8_t> BuildUdpV4(const UdpV4& u) {
  std::vector<uint8_t> p(28 + u.payload.size());
  p[0] = 0x45;
  StoreBe16(&p[2], static_cast<uint16_t>(p.size()));
  p[8] = 64;  // TTL
  p[9] = 17;  // UDP
  std::copy_n(u.src.bytes().begin(), 4, &p[12]);
  std::copy_n(u.dst.bytes().begin(), 4, &p[16]);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += LoadBe16(&p[i]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  StoreBe16(&p[10], static_cast<uint16_t>(~sum));
  StoreBe16(&p[20], u.src_port);
  StoreBe16(&p[22], u.dst_port);
  StoreBe16(&p[24], static_cast<uint16_t>(8 + u.payload.size()));
  std::copy(u.payload.begin(), u.payload.end(), &p[28]);
  return p;
}

// Reads batches (bounded in time) until `want` packets matching `match` came.
std::vector<UdpV4> ReadUdpFromTun(
    TunDevice& tun, size_t want,
    const std::function<bool(const UdpV4&)>& match) {
  std::vector<UdpV4> found;
  std::vector<std::array<uint8_t, 2048>> storage(8);
  std::vector<TunPacket> packets(storage.size());
  for (size_t i = 0; i < packets.size(); ++i) packets[i].buf = storage[i];
  while (found.size() < want && WaitReadable(tun.waitable())) {
    auto n = tun.ReadBatch(packets);
    EXPECT_TRUE(n.ok()) << n.error().message();
    if (!n.ok()) break;
    for (size_t i = 0; i < *n; ++i) {
      auto udp = ParseUdpV4(ByteSpan(packets[i].buf.data(), packets[i].len));
      if (udp && match(*udp)) found.push_back(*udp);
    }
  }
  return found;
}

class LinuxTunNetnsTest : public ::testing::Test {
 protected:
  // Creates zl0 up with 10.9.0.1/24.
  void CreateTun() {
    auto tun = CreateLinuxTun("zl0");
    ASSERT_TRUE(tun.ok()) << tun.error().message();
    tun_ = std::move(*tun);
    ASSERT_TRUE(tun_->SetUp().ok());
    ASSERT_TRUE(Shell("ip addr add 10.9.0.1/24 dev zl0"));
  }
  std::unique_ptr<TunDevice> tun_;
};

TEST_F(LinuxTunNetnsTest, NewTunHasTheDefaultMtuAndIsDown) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("zl0");
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  EXPECT_EQ((*tun)->name(), "zl0");
  auto mtu = (*tun)->Mtu();
  ASSERT_TRUE(mtu.ok()) << mtu.error().message();
  EXPECT_EQ(*mtu, kDefaultTunMtu);
  auto link = GetLink((*tun)->index());
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->name, "zl0");
  EXPECT_FALSE(link->up);
  ASSERT_TRUE((*tun)->SetMtu(1280).ok());
  EXPECT_EQ((*tun)->Mtu().value(), 1280);
}

// The interface's transmit queue length (SIOCGIFTXQLEN), -1 on error.
int TxQueueLen(const std::string& name) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (!s || ::ioctl(s.get(), SIOCGIFTXQLEN, &ifr) != 0) return -1;
  return ifr.ifr_qlen;
}

TEST_F(LinuxTunNetnsTest, NewTunQueuesAsManyPacketsAsTheKernelsWireGuard) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  {
    auto tun = CreateLinuxTun("zl0");
    ASSERT_TRUE(tun.ok()) << tun.error().message();
    EXPECT_EQ(TxQueueLen("zl0"), int(kDefaultTunTxQueueLen));
  }
  auto tun = CreateLinuxTun("zl1", kDefaultTunMtu, LinuxTunOptions{.tx_queue_len = 0});
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  EXPECT_EQ(TxQueueLen("zl1"), 500);  // the kernel's default for a TUN, kept
  auto other = CreateLinuxTun("zl2", kDefaultTunMtu, LinuxTunOptions{.tx_queue_len = 3000});
  ASSERT_TRUE(other.ok()) << other.error().message();
  EXPECT_EQ(TxQueueLen("zl2"), 3000);
}

TEST_F(LinuxTunNetnsTest, TunIsRemovedWhenDestroyed) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("zl0");
  ASSERT_TRUE(tun.ok());
  tun->reset();
  auto index = InterfaceIndex("zl0");
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.error().code(), ENODEV);
}

TEST_F(LinuxTunNetnsTest, PercentDIsNumberedByTheKernel) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("zlt%d");
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  EXPECT_EQ((*tun)->name(), "zlt0");
  EXPECT_EQ(InterfaceIndex("zlt0").value(), (*tun)->index());
}

// Opens /dev/net/tun and attaches it to `name` with `flags`, as a caller
// that hands a TUN over (WG_TUN_FD) does.
UniqueFd OpenAttachedTun(const char* name, short flags) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR));
  if (!fd) return fd;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = flags;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return UniqueFd();
  return fd;
}

TEST_F(LinuxTunNetnsTest, AdoptedTunTakesItsNameFromTheDescriptor) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  UniqueFd fd = OpenAttachedTun("zla%d", IFF_TUN | IFF_NO_PI);
  ASSERT_TRUE(fd.valid()) << std::strerror(errno);
  const int raw = fd.get();
  ASSERT_EQ(::fcntl(raw, F_GETFD) & FD_CLOEXEC, 0);
  auto tun = AdoptLinuxTun(std::move(fd));
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  EXPECT_EQ((*tun)->name(), "zla0");
  EXPECT_EQ((*tun)->waitable(), raw);
  EXPECT_EQ(InterfaceIndex("zla0").value(), (*tun)->index());
  EXPECT_EQ((*tun)->Mtu().value(), kDefaultTunMtu);
  EXPECT_NE(::fcntl(raw, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(raw, F_GETFL) & O_NONBLOCK, 0);
  // Non-blocking: nothing waiting reads as zero packets, not a hang.
  std::array<uint8_t, 2048> buf;
  TunPacket packet{buf, 0};
  auto n = (*tun)->ReadBatch(std::span(&packet, 1));
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 0u);
}

// (A TUN without IFF_NO_PI is refused too, but not tested: some kernels,
// e.g. 6.18, report IFF_NO_PI in TUNGETIFF whatever TUNSETIFF was given.)
TEST_F(LinuxTunNetnsTest, AdoptingATapIsRefused) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  UniqueFd fd = OpenAttachedTun("zlb%d", IFF_TAP | IFF_NO_PI);
  ASSERT_TRUE(fd.valid()) << std::strerror(errno);
  auto tun = AdoptLinuxTun(std::move(fd));
  ASSERT_FALSE(tun.ok());
  EXPECT_EQ(tun.error().code(), EINVAL) << tun.error().message();
  EXPECT_NE(tun.error().message().find("TAP"), std::string::npos)
      << tun.error().message();
}

TEST_F(LinuxTunNetnsTest, NameOfANonTunInterfaceIsBusy) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("lo");
  ASSERT_FALSE(tun.ok());
  EXPECT_EQ(tun.error().code(), EBUSY);
  EXPECT_NE(tun.error().message().find("is not a single-queue TUN"),
            std::string::npos)
      << tun.error().message();
}

TEST_F(LinuxTunNetnsTest, NameOfATunInUseIsBusy) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto first = CreateLinuxTun("zl0");
  ASSERT_TRUE(first.ok());
  auto second = CreateLinuxTun("zl0");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EBUSY);
  EXPECT_NE(second.error().message().find("already in use"), std::string::npos)
      << second.error().message();
}

TEST_F(LinuxTunNetnsTest, ReadBatchReturnsPacketsRoutedToTheTun) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateTun();
  auto socket = OpenUdp(Endpoint(Ip("10.9.0.1"), 0));
  ASSERT_TRUE(socket.ok()) << socket.error().message();
  constexpr int kCount = 5;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(SendTo(socket->get(), Endpoint(Ip("10.9.0.2"), 5000),
                       "packet " + std::to_string(i)));
  }
  auto found = ReadUdpFromTun(
      *tun_, kCount, [](const UdpV4& u) { return u.dst_port == 5000; });
  ASSERT_EQ(found.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(found[i].payload, "packet " + std::to_string(i));
    EXPECT_EQ(found[i].src, Ip("10.9.0.1"));
    EXPECT_EQ(found[i].dst, Ip("10.9.0.2"));
  }
}

TEST_F(LinuxTunNetnsTest, ReadBatchWithNothingWaitingReturnsZero) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("zl0");  // down: nothing is routed to it
  ASSERT_TRUE(tun.ok());
  std::array<uint8_t, 1500> buf;
  TunPacket packet{buf};
  auto n = (*tun)->ReadBatch(std::span(&packet, 1));
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 0u);
}

TEST_F(LinuxTunNetnsTest, WrittenPacketReachesALocalSocket) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateTun();
  auto socket = OpenUdp(Endpoint(Ip("10.9.0.1"), 6000));
  ASSERT_TRUE(socket.ok()) << socket.error().message();
  const auto packet = BuildUdpV4(
      {Ip("10.9.0.2"), Ip("10.9.0.1"), 7000, 6000, "from the tunnel"});
  ASSERT_TRUE(tun_->Write(packet).ok());
  auto got = ReceiveFrom(socket->get());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload, "from the tunnel");
  EXPECT_EQ(got->from, Endpoint(Ip("10.9.0.2"), 7000));
}

TEST_F(LinuxTunNetnsTest, WritingGarbageFails) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateTun();
  // Version nibble 0: the kernel refuses it before the IP stack sees it.
  const std::vector<uint8_t> garbage = {0x00, 0x01, 0x02, 0x03};
  auto r = tun_->Write(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL) << r.error().message();
}

// ---- Offloads (IFF_VNET_HDR) ----

using testing::BuildPacket;
using testing::ChecksumsVerify;
using testing::Flow;
using testing::Parsed;
using testing::ParsePacket;
using testing::Payload;
using testing::RefreshChecksums;

// Reads from `tun` (bounded in time) and hands each packet to `on_packet`
// until `done()`, by ReadBatch's rule: a full batch means "call again" before
// waiting for the descriptor. Small batches, so that a super-packet's
// segments are handed out over several calls.
void ReadUntil(TunDevice& tun, const std::function<void(ByteSpan)>& on_packet,
               const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  constexpr size_t kBatch = 7;
  std::vector<std::array<uint8_t, 2048>> storage(kBatch);
  std::vector<TunPacket> packets(kBatch);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool full = false;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    if (!full && !WaitReadable(tun.waitable(), std::chrono::milliseconds(50)))
      continue;
    for (size_t i = 0; i < kBatch; ++i) packets[i] = TunPacket{storage[i], 0};
    auto n = tun.ReadBatch(packets);
    ASSERT_TRUE(n.ok()) << n.error().message();
    full = *n == kBatch;
    for (size_t i = 0; i < *n; ++i)
      on_packet(ByteSpan(packets[i].buf.data(), packets[i].len));
  }
}

class LinuxTunOffloadTest : public ::testing::Test {
 protected:
  // Creates zl0, up, with 10.0.0.1/24 and fd00::1/64.
  void CreateTun(LinuxTunOptions options = {}) {
    auto tun = CreateLinuxTun("zl0", kDefaultTunMtu, options);
    ASSERT_TRUE(tun.ok()) << tun.error().message();
    tun_ = std::move(*tun);
    ASSERT_TRUE(tun_->SetUp().ok());
    ASSERT_TRUE(Shell("ip addr add 10.0.0.1/24 dev zl0"));
    ASSERT_TRUE(Shell("ip addr add fd00::1/64 dev zl0 nodad"));
    ASSERT_TRUE(testing::WaitForLocalAddress(Ip("fd00::1")));
  }
  std::unique_ptr<TunDevice> tun_;
};

TEST_F(LinuxTunOffloadTest, OffloadsAreOnByDefaultAndOffWhenAsked) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto with = CreateLinuxTun("zl0");
  ASSERT_TRUE(with.ok()) << with.error().message();
  // Linux 6.18 takes them all.
  EXPECT_EQ((*with)->offloads(), "csum tso4 tso6 uso4 uso6");
  auto without =
      CreateLinuxTun("zl1", kDefaultTunMtu, LinuxTunOptions{.offload = false});
  ASSERT_TRUE(without.ok()) << without.error().message();
  EXPECT_EQ((*without)->offloads(), "");
}

TEST_F(LinuxTunOffloadTest, PersistentPlainTunIsReusedWithOffloads) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(Shell("ip tuntap add dev zlp0 mode tun"));
  auto tun = CreateLinuxTun("zlp0");
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  EXPECT_NE((*tun)->offloads(), "");
  tun->reset();
  EXPECT_TRUE(Shell("ip tuntap del dev zlp0 mode tun"));
}

// A UDP socket with UDP_SEGMENT hands the TUN one 60 KB super-packet (USO)
// or, without USO, 60 datagrams: either way ReadBatch gives plain
// datagrams no longer than the MTU, with checksums, and every byte.
TEST_F(LinuxTunOffloadTest, UdpGsoSendIsReadAsPlainDatagramsWithEveryByte) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateTun();
  for (const char* local : {"10.0.0.1", "fd00::1"}) {
    SCOPED_TRACE(local);
    const bool v6 = std::string(local) == "fd00::1";
    auto socket = OpenUdp(Endpoint(Ip(local), 4000));
    ASSERT_TRUE(socket.ok()) << socket.error().message();
    const int segment = 1000;
    ASSERT_EQ(::setsockopt(socket->get(), SOL_UDP, UDP_SEGMENT, &segment,
                           sizeof(segment)),
              0)
        << std::strerror(errno);
    const std::vector<uint8_t> sent = Payload(60 * 1000 + 123, v6 ? 2 : 1);
    ASSERT_TRUE(SendTo(socket->get(),
                       Endpoint(Ip(v6 ? "fd00::2" : "10.0.0.2"), 5000),
                       std::string(sent.begin(), sent.end())));
    std::vector<uint8_t> got;
    size_t datagrams = 0;
    ReadUntil(
        *tun_,
        [&](ByteSpan packet) {
          auto p = ParsePacket(packet);
          if (!p || p->tcp || p->dst_port != 5000) return;
          ++datagrams;
          EXPECT_LE(packet.size(), static_cast<size_t>(kDefaultTunMtu));
          EXPECT_TRUE(ChecksumsVerify(packet)) << "datagram " << datagrams;
          EXPECT_EQ(p->src_port, 4000);
          got.insert(got.end(), p->payload.begin(), p->payload.end());
        },
        [&] { return got.size() >= sent.size(); });
    EXPECT_EQ(datagrams, 61u);
    EXPECT_EQ(got, sent);
  }
}

// Plays the peer of a TCP connection behind the TUN: answers the SYN, then
// ACKs what arrives in order, until 1 MB sent in one go came through as
// plain segments no longer than the MTU with verifying checksums.
TEST_F(LinuxTunOffloadTest, TcpStreamIsReadAsPlainSegmentsWithEveryByte) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateTun();
  for (const char* family : {"4", "6"}) {
    SCOPED_TRACE(std::string("IPv") + family);
    const bool v6 = family[0] == '6';
    UniqueFd socket(::socket(v6 ? AF_INET6 : AF_INET,
                             SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(socket.valid());
    sockaddr_storage to;
    const socklen_t to_len =
        ToSockaddr(Endpoint(Ip(v6 ? "fd00::2" : "10.0.0.2"), 80), &to);
    ASSERT_NE(
        ::connect(socket.get(), reinterpret_cast<const sockaddr*>(&to), to_len),
        0);
    ASSERT_EQ(errno, EINPROGRESS);

    const Flow peer{v6, true, 2, 1, 80, 0};
    Flow reply = peer;
    uint32_t rcv_next = 0;
    bool established = false;
    auto send_to_host = [&](uint8_t flags, uint32_t seq,
                            const std::vector<uint8_t>& options) {
      std::vector<uint8_t> p =
          BuildPacket(reply, {}, seq, flags, options.size());
      const size_t tcp = v6 ? 40 : 20;
      StoreBe32(&p[tcp + 8], rcv_next);
      std::copy(options.begin(), options.end(), &p[tcp + 20]);
      RefreshChecksums(p);
      ASSERT_TRUE(tun_->Write(p).ok());
    };
    const std::vector<uint8_t> sent = Payload(1 << 20, 5);
    size_t written = 0;
    std::vector<uint8_t> got;
    size_t segments = 0;
    ReadUntil(
        *tun_,
        [&](ByteSpan packet) {
          auto p = ParsePacket(packet);
          if (!p || !p->tcp || p->dst_port != 80) return;
          EXPECT_LE(packet.size(), static_cast<size_t>(kDefaultTunMtu));
          EXPECT_TRUE(ChecksumsVerify(packet));
          if (p->flags & testing::kSyn) {
            reply.dst_port = p->src_port;
            rcv_next = p->seq + 1;
            // MSS 1380 (option 2), so that a segment fits the MTU.
            send_to_host(testing::kSyn | testing::kAck, 7000,
                         {2, 4, 0x05, 0x64});
            return;
          }
          established = true;
          if (p->payload.empty()) return;
          ++segments;
          if (p->seq == rcv_next) {
            got.insert(got.end(), p->payload.begin(), p->payload.end());
            rcv_next += static_cast<uint32_t>(p->payload.size());
          }
          send_to_host(testing::kAck, 7001, {});
        },
        [&] {
          // Between reads: push what the socket takes.
          if (established && written < sent.size()) {
            const ssize_t n =
                ::send(socket.get(), sent.data() + written,
                       sent.size() - written, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) written += static_cast<size_t>(n);
          }
          return got.size() >= sent.size();
        },
        std::chrono::seconds(20));
    EXPECT_EQ(got.size(), sent.size());
    EXPECT_TRUE(got == sent);
    EXPECT_GE(segments, sent.size() / 1380);
  }
}

TEST_F(LinuxTunOffloadTest, WriteAndWriteBatchReachALocalSocket) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  for (bool offload : {true, false}) {
    SCOPED_TRACE(offload ? "offload" : "plain");
    CreateTun(LinuxTunOptions{.offload = offload});
    EXPECT_EQ(tun_->offloads().empty(), !offload);
    auto socket = OpenUdp(Endpoint(Ip("10.0.0.1"), 6000));
    ASSERT_TRUE(socket.ok()) << socket.error().message();
    const Flow flow{false, false, 2, 1, 7000, 6000};
    std::vector<uint8_t> single = BuildPacket(flow, Payload(100, 9));
    ASSERT_TRUE(tun_->Write(single).ok());
    auto got = ReceiveFrom(socket->get());
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->payload.size(), 100u);
    EXPECT_EQ(got->from, Endpoint(Ip("10.0.0.2"), 7000));

    std::vector<std::vector<uint8_t>> batch;
    for (int i = 0; i < 6; ++i)
      batch.push_back(BuildPacket(flow, Payload(500 + i, i)));
    std::vector<MutableByteSpan> spans(batch.begin(), batch.end());
    EXPECT_EQ(tun_->WriteBatch(spans), 0u);
    for (int i = 0; i < 6; ++i) {
      auto d = ReceiveFrom(socket->get());
      ASSERT_TRUE(d.has_value()) << i;
      const std::vector<uint8_t> want = Payload(500 + i, i);
      EXPECT_EQ(d->payload, std::string(want.begin(), want.end())) << i;
    }
    tun_.reset();
  }
}

TEST_F(LinuxTunOffloadTest, WriteBatchCountsPacketsTheKernelRefuses) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateTun();
  std::vector<uint8_t> good =
      BuildPacket(Flow{false, false, 2, 1, 7000, 6000}, Payload(10));
  std::vector<uint8_t> garbage = {0x00, 0x01, 0x02, 0x03};
  std::vector<MutableByteSpan> spans = {good, garbage, good};
  EXPECT_EQ(tun_->WriteBatch(spans), 1u);
}

}  // namespace
}  // namespace zl::net
