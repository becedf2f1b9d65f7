#include "device/flow_queue.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace zl::device {
namespace {

// A minimal IPv4 packet: 20-byte header, then 8 bytes of a TCP/UDP header.
std::vector<uint8_t> Ipv4(uint8_t protocol, uint32_t src, uint32_t dst, uint16_t sport,
                          uint16_t dport, uint16_t frag = 0) {
  std::vector<uint8_t> p(28, 0);
  p[0] = 0x45;
  p[6] = uint8_t(frag >> 8);
  p[7] = uint8_t(frag);
  p[9] = protocol;
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = uint8_t(src >> (24 - 8 * i));
    p[16 + i] = uint8_t(dst >> (24 - 8 * i));
  }
  p[20] = uint8_t(sport >> 8);
  p[21] = uint8_t(sport);
  p[22] = uint8_t(dport >> 8);
  p[23] = uint8_t(dport);
  return p;
}

std::vector<uint8_t> Ipv6(uint8_t next, uint8_t last_src_byte, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p(48, 0);
  p[0] = 0x60;
  p[6] = next;
  p[8] = 0xfd;
  p[23] = last_src_byte;
  p[24] = 0xfd;
  p[39] = 1;
  p[40] = uint8_t(sport >> 8);
  p[41] = uint8_t(sport);
  p[42] = uint8_t(dport >> 8);
  p[43] = uint8_t(dport);
  return p;
}

size_t Q(const std::vector<uint8_t>& p, size_t n) { return QueueOfFlow(ByteSpan(p), n); }

TEST(FlowQueueTest, OneQueueOrNoneIsAlwaysQueueZero) {
  const auto p = Ipv4(6, 0x0a000001, 0x0a000002, 1000, 80);
  EXPECT_EQ(Q(p, 0), 0u);
  EXPECT_EQ(Q(p, 1), 0u);
}

TEST(FlowQueueTest, APacketOfAFlowAlwaysGetsTheSameQueueBelowTheCount) {
  for (uint16_t port = 1000; port < 1100; ++port) {
    const auto a = Ipv4(6, 0x0a000001, 0x0a000002, port, 5201);
    auto b = a;
    b.resize(1400, 0xab);  // a bigger packet of the same flow
    EXPECT_EQ(Q(a, 3), Q(b, 3));
    EXPECT_LT(Q(a, 3), 3u);
  }
}

TEST(FlowQueueTest, ManyFlowsUseEveryQueueAboutEvenly) {
  for (size_t queues : {2u, 3u, 8u}) {
    std::vector<size_t> count(queues, 0);
    for (uint16_t port = 0; port < 800; ++port) {
      ++count[Q(Ipv4(17, 0x0a000001, 0x0a000002, uint16_t(40000 + port), 53), queues)];
    }
    for (size_t c : count) {
      EXPECT_GT(c, 800 / queues / 2) << queues << " queues";
      EXPECT_LT(c, 800 / queues * 2) << queues << " queues";
    }
  }
}

TEST(FlowQueueTest, PortsCountForTcpAndUdpOnly) {
  std::set<size_t> tcp, icmp;
  for (uint16_t port = 0; port < 64; ++port) {
    tcp.insert(Q(Ipv4(6, 0x0a000001, 0x0a000002, port, 80), 8));
    icmp.insert(Q(Ipv4(1, 0x0a000001, 0x0a000002, port, 80), 8));
  }
  EXPECT_GT(tcp.size(), 1u);
  EXPECT_EQ(icmp.size(), 1u);  // the bytes after an ICMP header are no ports
}

TEST(FlowQueueTest, FragmentsOfADatagramShareTheirAddressesQueue) {
  // The first fragment (MF set) and a later one (offset) carry no usable
  // ports: both hash on addresses alone, so all fragments go together.
  const size_t first = Q(Ipv4(17, 0x0a000001, 0x0a000002, 1234, 53, 0x2000), 8);
  const size_t later = Q(Ipv4(17, 0x0a000001, 0x0a000002, 9999, 9999, 0x00b9), 8);
  EXPECT_EQ(first, later);
}

TEST(FlowQueueTest, Ipv6FlowsSpreadToo) {
  std::set<size_t> seen;
  for (uint16_t port = 0; port < 64; ++port) seen.insert(Q(Ipv6(6, 1, port, 443), 4));
  EXPECT_EQ(seen.size(), 4u);
  for (uint8_t host = 0; host < 64; ++host) EXPECT_LT(Q(Ipv6(58, host, 0, 0), 4), 4u);
}

TEST(FlowQueueTest, ShortOrForeignPacketsGetQueueZero) {
  EXPECT_EQ(QueueOfFlow(ByteSpan(), 4), 0u);
  const std::vector<uint8_t> short4(19, 0x45), short6(39, 0x60), other(60, 0x20);
  EXPECT_EQ(Q(short4, 4), 0u);
  EXPECT_EQ(Q(short6, 4), 0u);
  EXPECT_EQ(Q(other, 4), 0u);
  // A header length beyond the packet: no ports, no overread.
  auto odd = Ipv4(6, 1, 2, 3, 4);
  odd[0] = 0x4f;
  EXPECT_LT(Q(odd, 4), 4u);
}

}  // namespace
}  // namespace zl::device
