// The two TUN offload paths against each other: batches of TCP and UDP
// packets (IPv4 and IPv6, flows interleaved, odd sizes, gaps, reordering,
// duplicates) go through TunCoalescer::Plan (GRO, the write side) as a TUN
// with IFF_VNET_HDR would receive them; each planned write is then taken
// apart as the kernel would (its virtio-net header, then our segmenter for
// a super-packet) and what comes out must be the original packets, per flow
// and in order, byte for byte. It checks what the writes mean, not how many
// there are, so it holds for any correct coalescer.
//
// One allowance: a coalesced IPv4 super-packet's segments get IDs counted
// up from the first (as the kernel's GSO does), so the IPv4 ID (and with it
// the header checksum, which must verify) may differ from the original's.

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "net/tun_coalesce.h"
#include "net/tun_segment.h"
#include "net/tun_test_packets.h"

namespace zl::net {
namespace {

using testing::BuildPacket;
using testing::ChecksumsVerify;
using testing::Flow;
using testing::kAck;
using testing::kFin;
using testing::kPsh;
using testing::ParsePacket;
using testing::Payload;

// Flows are told apart by (version, protocol, ports).
using FlowKey = std::tuple<bool, bool, uint16_t, uint16_t>;

FlowKey KeyOf(ByteSpan packet) {
  auto p = ParsePacket(packet);
  if (!p) return {};
  return {p->ipv6, p->tcp, p->src_port, p->dst_port};
}

// A packet with the IPv4 ID and header checksum zeroed (see the top).
std::vector<uint8_t> Comparable(ByteSpan packet) {
  std::vector<uint8_t> v(packet.begin(), packet.end());
  if (v.size() >= 20 && v[0] >> 4 == 4) {
    std::memset(&v[4], 0, 2);
    std::memset(&v[10], 0, 2);
  }
  return v;
}

// The flows of a batch and the packets it sends on each, in the order the
// batch carries them.
struct Batch {
  std::vector<std::vector<uint8_t>> packets;
  std::map<FlowKey, std::vector<std::vector<uint8_t>>> per_flow;
};

// Builds a batch from `rng`: per flow a stream of segments (mostly full,
// sometimes odd-sized, with gaps, duplicates, swapped neighbours, PSH and a
// final FIN), the flows interleaved at random, each flow's order kept.
Batch MakeBatch(std::mt19937& rng, size_t packets_per_flow) {
  const Flow flows[] = {
      {false, true, 1, 2, 1001, 80},  {false, true, 3, 2, 1002, 80},
      {true, true, 1, 2, 1003, 443},  {true, true, 4, 2, 1004, 443},
      {false, false, 1, 2, 1005, 53}, {true, false, 1, 2, 1006, 53},
  };
  std::vector<std::vector<std::vector<uint8_t>>> streams;
  for (const Flow& flow : flows) {
    const size_t full =
        flow.tcp ? (flow.ipv6 ? 1360 : 1380) : (flow.ipv6 ? 1372 : 1392);
    const size_t options = flow.tcp && rng() % 2 ? 12 : 0;
    std::vector<std::vector<uint8_t>> stream;
    uint32_t seq = rng();
    uint16_t id = static_cast<uint16_t>(rng());
    for (size_t i = 0; i < packets_per_flow; ++i) {
      size_t size = full - options;
      switch (rng() % 10) {
        case 0:
          size = 1 + rng() % full;
          break;  // odd size
        case 1:
          size = 0;
          break;  // pure ACK / empty datagram
        default:
          break;
      }
      uint8_t flags = kAck;
      if (rng() % 8 == 0) flags |= kPsh;
      if (i + 1 == packets_per_flow && rng() % 2) flags |= kFin;
      const std::vector<uint8_t> payload =
          Payload(size, static_cast<uint32_t>(rng()));
      stream.push_back(BuildPacket(flow, payload, seq, flags, options, id++));
      if (rng() % 12 == 0) stream.push_back(stream.back());  // a duplicate
      seq += static_cast<uint32_t>(size);
      if (rng() % 15 == 0) seq += 1380;  // a gap (a lost segment)
    }
    for (size_t i = 1; i < stream.size(); ++i) {
      if (rng() % 10 == 0) std::swap(stream[i - 1], stream[i]);  // reordered
    }
    streams.push_back(std::move(stream));
  }
  Batch batch;
  std::vector<size_t> next(streams.size(), 0);
  size_t left = 0;
  for (const auto& s : streams) left += s.size();
  while (left > 0) {
    // Runs of one flow, as a tunnel delivers them, broken at random.
    size_t f = rng() % streams.size();
    while (next[f] == streams[f].size()) f = (f + 1) % streams.size();
    for (size_t run = 1 + rng() % 8; run > 0 && next[f] < streams[f].size();
         --run) {
      const auto& packet = streams[f][next[f]++];
      batch.packets.push_back(packet);
      batch.per_flow[KeyOf(packet)].push_back(packet);
      --left;
    }
  }
  return batch;
}

// Takes a planned write apart as the kernel would; appends its packets to
// `out` per flow. Returns how many it found.
size_t Unpack(const TunWrite& write,
              std::map<FlowKey, std::vector<std::vector<uint8_t>>>& out) {
  EXPECT_GE(write.iov.size(), 2u);
  if (write.iov.size() < 2) return 0;
  EXPECT_EQ(write.iov[0].iov_len, kVirtioNetHdrSize);
  const VirtioNetHdr header = ParseVirtioNetHdr(
      ByteSpan(static_cast<const uint8_t*>(write.iov[0].iov_base),
               write.iov[0].iov_len));
  std::vector<uint8_t> packet;
  for (size_t i = 1; i < write.iov.size(); ++i) {
    const auto* base = static_cast<const uint8_t*>(write.iov[i].iov_base);
    packet.insert(packet.end(), base, base + write.iov[i].iov_len);
  }
  EXPECT_LE(packet.size(), 65535u + 40u);
  if (header.gso_type == kVirtioNetHdrGsoNone) {
    auto completed = CompleteChecksum(header, packet);
    EXPECT_TRUE(completed.ok()) << completed.error().message();
    out[KeyOf(packet)].push_back(packet);
    return 1;
  }
  auto split = ParseSuperPacket(header, packet);
  EXPECT_TRUE(split.ok()) << split.error().message();
  if (!split.ok()) return 0;
  std::vector<uint8_t> storage(split->segments * 2048);
  std::vector<TunPacket> slots(split->segments);
  for (size_t i = 0; i < slots.size(); ++i)
    slots[i].buf = MutableByteSpan(&storage[i * 2048], 2048);
  auto n = WriteSegments(*split, packet, 0, slots);
  EXPECT_TRUE(n.ok()) << n.error().message();
  if (!n.ok()) return 0;
  for (size_t i = 0; i < *n; ++i) {
    const ByteSpan segment(slots[i].buf.data(), slots[i].len);
    out[KeyOf(segment)].emplace_back(segment.begin(), segment.end());
  }
  return *n;
}

void ExpectRoundTrip(TunCoalescer::Options options, uint32_t seed,
                     size_t batches, size_t packets_per_flow) {
  std::mt19937 rng(seed);
  TunCoalescer coalescer(options);
  for (size_t b = 0; b < batches; ++b) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " batch " +
                 std::to_string(b));
    const Batch batch = MakeBatch(rng, packets_per_flow);
    std::vector<std::vector<uint8_t>> buffers =
        batch.packets;  // Plan may edit them
    std::vector<MutableByteSpan> spans(buffers.begin(), buffers.end());
    std::map<FlowKey, std::vector<std::vector<uint8_t>>> got;
    size_t carried = 0;
    size_t found = 0;
    for (const TunWrite& write : coalescer.Plan(spans)) {
      const size_t n = Unpack(write, got);
      EXPECT_EQ(n, write.packets);
      carried += write.packets;
      found += n;
    }
    EXPECT_EQ(carried, batch.packets.size());
    EXPECT_EQ(found, batch.packets.size());
    ASSERT_EQ(got.size(), batch.per_flow.size());
    for (const auto& [key, want] : batch.per_flow) {
      const auto& have = got[key];
      ASSERT_EQ(have.size(), want.size()) << "flow port " << std::get<2>(key);
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_TRUE(ChecksumsVerify(have[i]))
            << "flow port " << std::get<2>(key) << " #" << i;
        EXPECT_EQ(Comparable(have[i]), Comparable(want[i]))
            << "flow port " << std::get<2>(key) << " #" << i;
      }
    }
  }
}

TEST(TunOffloadRoundtrip,
     TcpAndUdpCoalescingGivesBackEveryPacketPerFlowInOrder) {
  ExpectRoundTrip({.tcp = true, .udp = true}, 1, 40, 24);
}

TEST(TunOffloadRoundtrip, TcpOnlyCoalescingGivesBackEveryPacketPerFlowInOrder) {
  ExpectRoundTrip({.tcp = true, .udp = false}, 2, 20, 24);
}

TEST(TunOffloadRoundtrip, WithoutCoalescingEveryPacketGoesAsItCame) {
  ExpectRoundTrip({.tcp = false, .udp = false}, 3, 10, 16);
}

// As LinuxTun::WriteBatch plans (checksums trusted): lone packets go with a
// partial checksum, which completes to their own.
TEST(TunOffloadRoundtrip, TrustedCoalescingGivesBackEveryPacketPerFlowInOrder) {
  ExpectRoundTrip({.tcp = true, .udp = true, .verify_checksums = false}, 5, 40,
                  24);
}

TEST(TunOffloadRoundtrip, TrustedWithoutCoalescingEveryPacketComesBack) {
  ExpectRoundTrip({.tcp = false, .udp = false, .verify_checksums = false}, 6,
                  10, 16);
}

TEST(TunOffloadRoundtrip, LongRunsOfOneFlowUpToASuperPacketsLimit) {
  // 64 KiB / 1380 is 47 segments: a run of 60 must be split somewhere.
  std::mt19937 rng(4);
  TunCoalescer coalescer({.tcp = true, .udp = true});
  for (const Flow& flow :
       {Flow{false, true}, Flow{true, true}, Flow{false, false}}) {
    SCOPED_TRACE(std::to_string(flow.ipv6) + std::to_string(flow.tcp));
    std::vector<std::vector<uint8_t>> packets;
    uint32_t seq = 100;
    const size_t size = flow.tcp ? 1380 : 1392;
    for (uint16_t i = 0; i < 60; ++i) {
      packets.push_back(BuildPacket(flow, Payload(i == 59 ? 77 : size, rng()),
                                    seq, kAck, 0, i));
      seq += static_cast<uint32_t>(i == 59 ? 77 : size);
    }
    std::vector<std::vector<uint8_t>> buffers = packets;
    std::vector<MutableByteSpan> spans(buffers.begin(), buffers.end());
    std::map<FlowKey, std::vector<std::vector<uint8_t>>> got;
    size_t carried = 0;
    for (const TunWrite& write : coalescer.Plan(spans)) {
      EXPECT_EQ(Unpack(write, got), write.packets);
      carried += write.packets;
    }
    EXPECT_EQ(carried, packets.size());
    const auto& have = got[KeyOf(packets[0])];
    ASSERT_EQ(have.size(), packets.size());
    for (size_t i = 0; i < packets.size(); ++i) {
      EXPECT_EQ(Comparable(have[i]), Comparable(packets[i])) << i;
    }
  }
}

}  // namespace
}  // namespace zl::net
