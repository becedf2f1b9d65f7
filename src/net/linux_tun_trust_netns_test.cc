// LinuxTun::WriteBatch trusts its packets' checksums (linux_tun.h,
// tun_coalesce.h): the packets were decrypted, so authenticated, and neither
// the coalescer nor the kernel verifies them -- lone TCP/UDP packets go with
// a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM), which local delivery
// takes as verified. What the kernel really does with them:
//
//   peer 10.0.0.2 / fd00::2 (this test) ── WriteBatch ──► zl0 ──► kernel
//        ▲                                                           │
//        └────────────── ReadBatch ◄── zl0 ◄── SYN-ACK ── sockets on .1 / ::1
//
// Write (a lone packet with an all-zero header) is the contrast: the kernel
// verifies its checksum and drops a wrong one.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/unique_fd.h"
#include "net/linux_tun.h"
#include "net/sockaddr.h"
#include "net/test_util.h"
#include "net/tun_test_packets.h"
#include "support/netns.h"

namespace zl::net {
namespace {

using testing::BuildPacket;
using testing::Flow;
using testing::Ip;
using testing::kAck;
using testing::kPsh;
using testing::kSyn;
using testing::OpenUdp;
using testing::ParsePacket;
using testing::Payload;
using testing::ReceiveFrom;
using testing::RefreshChecksums;
using testing::Shell;
using testing::WaitReadable;

// Flips bits of a TCP/UDP packet's checksum field (a bit error the sender's
// checksum would have caught).
void BreakChecksum(std::vector<uint8_t>& p) {
  const bool v6 = p[0] >> 4 == 6;
  const size_t ip = v6 ? 40 : 20;
  p[ip + ((v6 ? p[6] : p[9]) == 6 ? 16 : 6)] ^= 0x5a;
}

std::string AsString(const std::vector<uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

class LinuxTunTrustTest : public ::testing::Test {
 protected:
  // Creates zl0, up, with 10.0.0.1/24 and fd00::1/64 (tun_test_packets.h's
  // hosts .1; the peer is .2).
  void SetUp() override {
    ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
    auto tun = CreateLinuxTun("zl0");
    ASSERT_TRUE(tun.ok()) << tun.error().message();
    tun_ = std::move(*tun);
    ASSERT_NE(tun_->offloads(), "");
    ASSERT_TRUE(tun_->SetUp().ok());
    ASSERT_TRUE(Shell("ip addr add 10.0.0.1/24 dev zl0"));
    ASSERT_TRUE(Shell("ip addr add fd00::1/64 dev zl0 nodad"));
    ASSERT_TRUE(testing::WaitForLocalAddress(Ip("fd00::1")));
  }

  size_t WriteBatch(std::vector<std::vector<uint8_t>>& packets) {
    std::vector<MutableByteSpan> spans(packets.begin(), packets.end());
    return tun_->WriteBatch(spans);
  }

  // Reads (bounded in time) until a TCP SYN (SYN-ACK) to `port` comes from
  // the kernel; returns it.
  std::optional<testing::Parsed> ReadSynTo(bool v6, uint16_t port) {
    std::vector<std::array<uint8_t, 2048>> storage(8);
    std::vector<TunPacket> slots(storage.size());
    const auto deadline =
        std::chrono::steady_clock::now() + testing::kTestTimeout;
    while (std::chrono::steady_clock::now() < deadline &&
           WaitReadable(tun_->waitable())) {
      for (size_t i = 0; i < slots.size(); ++i) slots[i] = {storage[i], 0};
      auto n = tun_->ReadBatch(slots);
      if (!n.ok()) return std::nullopt;
      for (size_t i = 0; i < *n; ++i) {
        auto p = ParsePacket(ByteSpan(slots[i].buf.data(), slots[i].len));
        if (p && p->ipv6 == v6 && p->tcp && p->dst_port == port &&
            (p->flags & kSyn) != 0) {
          return p;
        }
      }
    }
    return std::nullopt;
  }

  std::unique_ptr<TunDevice> tun_;
};

// Lone datagrams (each alone in its batch, or of a size that ends any
// group) with right checksums are delivered; so are datagrams merged into
// one USO super-packet; and so is a datagram with a wrong checksum, alone
// or merged: the documented trust.
TEST_F(LinuxTunTrustTest,
       UdpDatagramsAreDeliveredAloneAndMergedEvenWithAWrongChecksum) {
  for (const bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    auto socket = OpenUdp(Endpoint(Ip(v6 ? "fd00::1" : "10.0.0.1"), 6000));
    ASSERT_TRUE(socket.ok()) << socket.error().message();
    const Flow peer{v6, false, 2, 1, 7000, 6000};

    std::vector<std::vector<uint8_t>> lone = {
        BuildPacket(peer, Payload(100, 1))};
    EXPECT_EQ(WriteBatch(lone), 0u);
    std::vector<std::vector<uint8_t>> bad = {
        BuildPacket(peer, Payload(120, 2))};
    BreakChecksum(bad[0]);
    EXPECT_EQ(WriteBatch(bad), 0u);

    // Nine datagrams of one flow, the fourth with a wrong checksum, the last
    // shorter: one super-packet.
    std::vector<std::vector<uint8_t>> run;
    for (uint32_t i = 0; i < 9; ++i)
      run.push_back(BuildPacket(peer, Payload(i == 8 ? 300 : 1000, 10 + i)));
    BreakChecksum(run[3]);
    EXPECT_EQ(WriteBatch(run), 0u);

    std::vector<std::string> want = {AsString(Payload(100, 1)),
                                     AsString(Payload(120, 2))};
    for (uint32_t i = 0; i < 9; ++i)
      want.push_back(AsString(Payload(i == 8 ? 300 : 1000, 10 + i)));
    for (size_t i = 0; i < want.size(); ++i) {
      auto got = ReceiveFrom(socket->get());
      ASSERT_TRUE(got.has_value()) << "datagram " << i;
      EXPECT_EQ(got->payload, want[i]) << "datagram " << i;
      EXPECT_EQ(got->from, Endpoint(Ip(v6 ? "fd00::2" : "10.0.0.2"), 7000));
    }
  }
}

// The contrast that shows the trust is WriteBatch's: Write sends a lone
// packet with an all-zero header, and the kernel verifies and drops a wrong
// checksum. The datagram after it comes first.
TEST_F(LinuxTunTrustTest,
       WriteLeavesTheChecksumToTheKernelWhichDropsAWrongOne) {
  auto socket = OpenUdp(Endpoint(Ip("10.0.0.1"), 6000));
  ASSERT_TRUE(socket.ok()) << socket.error().message();
  const Flow peer{false, false, 2, 1, 7000, 6000};
  std::vector<uint8_t> bad = BuildPacket(peer, Payload(100, 1));
  BreakChecksum(bad);
  ASSERT_TRUE(tun_->Write(bad).ok());
  ASSERT_TRUE(tun_->Write(BuildPacket(peer, Payload(50, 2))).ok());
  auto got = ReceiveFrom(socket->get());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload, AsString(Payload(50, 2)));
}

// A TCP connection from the peer, through WriteBatch: a lone SYN (partial
// checksum) is answered; then a pure ACK (lone) and ten segments in one
// batch (one TSO super-packet), one of them with a wrong checksum, reach the
// accepted socket intact.
TEST_F(LinuxTunTrustTest,
       TcpSegmentsAreDeliveredAloneAndMergedEvenWithAWrongChecksum) {
  for (const bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    UniqueFd listener(::socket(v6 ? AF_INET6 : AF_INET,
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listener.valid());
    sockaddr_storage local;
    const socklen_t local_len =
        ToSockaddr(Endpoint(Ip(v6 ? "fd00::1" : "10.0.0.1"), 80), &local);
    ASSERT_EQ(
        ::bind(listener.get(), reinterpret_cast<sockaddr*>(&local), local_len),
        0)
        << std::strerror(errno);
    ASSERT_EQ(::listen(listener.get(), 4), 0);

    const Flow peer{v6, true, 2, 1, 7000, 80};
    const uint32_t isn = 5000;
    std::vector<std::vector<uint8_t>> syn = {BuildPacket(peer, {}, isn, kSyn)};
    ASSERT_EQ(WriteBatch(syn), 0u);
    auto syn_ack = ReadSynTo(v6, 7000);
    ASSERT_TRUE(syn_ack.has_value()) << "no answer to the SYN";
    ASSERT_EQ(syn_ack->flags, kSyn | kAck);

    // BuildPacket's ACK number, set to the kernel's ISN + 1.
    auto with_ack = [&](std::vector<uint8_t> p) {
      StoreBe32(&p[(v6 ? 40 : 20) + 8], syn_ack->seq + 1);
      RefreshChecksums(p);
      return p;
    };
    std::vector<std::vector<uint8_t>> batch = {
        with_ack(BuildPacket(peer, {}, isn + 1, kAck))};
    std::string sent;
    for (uint32_t i = 0; i < 10; ++i) {
      const std::vector<uint8_t> payload = Payload(1000, 20 + i);
      batch.push_back(with_ack(BuildPacket(peer, payload, isn + 1 + i * 1000,
                                           i == 9 ? kAck | kPsh : kAck)));
      sent += AsString(payload);
    }
    BreakChecksum(batch[4]);
    ASSERT_EQ(WriteBatch(batch), 0u);

    ASSERT_TRUE(WaitReadable(listener.get()));
    UniqueFd conn(::accept4(listener.get(), nullptr, nullptr,
                            SOCK_NONBLOCK | SOCK_CLOEXEC));
    ASSERT_TRUE(conn.valid()) << std::strerror(errno);
    std::string got;
    while (got.size() < sent.size() && WaitReadable(conn.get())) {
      char buf[4096];
      const ssize_t n = ::recv(conn.get(), buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_EQ(got.size(), sent.size());
    EXPECT_TRUE(got == sent);
  }
}

}  // namespace
}  // namespace zl::net
