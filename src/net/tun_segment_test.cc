#include "net/tun_segment.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "net/tun_test_packets.h"

namespace zl::net {
namespace {

using testing::BuildPacket;
using testing::BuildSuperPacket;
using testing::ChecksumsVerify;
using testing::Flow;
using testing::kAck;
using testing::kCwr;
using testing::kEce;
using testing::kFin;
using testing::kPsh;
using testing::ParsePacket;
using testing::Payload;
using testing::SuperPacket;

constexpr size_t kSlot = 2048;

// Slots for SegmentSuperPacket, backed by one buffer.
struct Slots {
  explicit Slots(size_t n, size_t size = kSlot)
      : storage(n * size), packets(n) {
    for (size_t i = 0; i < n; ++i)
      packets[i].buf = MutableByteSpan(&storage[i * size], size);
  }
  ByteSpan Packet(size_t i) const {
    return ByteSpan(packets[i].buf.data(), packets[i].len);
  }
  std::vector<uint8_t> storage;
  std::vector<TunPacket> packets;
};

struct Case {
  std::string name;
  Flow flow;
  size_t payload;
  uint16_t gso_size;
  size_t tcp_options = 0;
};

// Splits `super` and checks each segment against the original: headers
// copied with their per-segment changes, payload slices in order, checksums
// that verify.
void ExpectSegmentsMatch(const SuperPacket& super, const Case& c,
                         uint8_t flags) {
  const std::vector<uint8_t> payload = Payload(c.payload, 3);
  const size_t expected =
      c.payload == 0 ? 1 : (c.payload + c.gso_size - 1) / c.gso_size;
  Slots slots(expected + 1);
  auto n = SegmentSuperPacket(super.header, super.packet, slots.packets);
  ASSERT_TRUE(n.ok()) << n.error().message();
  ASSERT_EQ(*n, expected);
  auto original = ParsePacket(super.packet);
  ASSERT_TRUE(original.has_value());
  std::vector<uint8_t> joined;
  for (size_t i = 0; i < *n; ++i) {
    SCOPED_TRACE("segment " + std::to_string(i));
    const ByteSpan segment = slots.Packet(i);
    EXPECT_TRUE(ChecksumsVerify(segment));
    auto s = ParsePacket(segment);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->headers, original->headers);
    EXPECT_EQ(s->src, original->src);
    EXPECT_EQ(s->dst, original->dst);
    EXPECT_EQ(s->src_port, c.flow.src_port);
    EXPECT_EQ(s->dst_port, c.flow.dst_port);
    const size_t want =
        i + 1 < expected ? c.gso_size : c.payload - i * c.gso_size;
    EXPECT_EQ(s->payload.size(), want);
    if (!c.flow.ipv6) {
      EXPECT_EQ(s->ip_id, static_cast<uint16_t>(original->ip_id + i));
    }
    if (c.flow.tcp) {
      EXPECT_EQ(s->seq, static_cast<uint32_t>(original->seq + i * c.gso_size));
      uint8_t want_flags = flags;
      if (i + 1 < expected) want_flags &= static_cast<uint8_t>(~(kFin | kPsh));
      if (i > 0) want_flags &= static_cast<uint8_t>(~kCwr);
      EXPECT_EQ(s->flags, want_flags);
      // The options travel with every segment.
      EXPECT_TRUE(
          std::equal(segment.begin() + (c.flow.ipv6 ? 40 : 20) + 20,
                     segment.begin() + static_cast<long>(s->headers),
                     super.packet.begin() + (c.flow.ipv6 ? 40 : 20) + 20));
    }
    joined.insert(joined.end(), s->payload.begin(), s->payload.end());
  }
  EXPECT_EQ(joined, payload);
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  const struct {
    const char* name;
    Flow flow;
    uint16_t gso;
    size_t options;
  } kinds[] = {
      {"Tcp4", {false, true}, 1380, 12},
      {"Tcp6", {true, true}, 1360, 12},
      {"Udp4", {false, false}, 1392, 0},
      {"Udp6", {true, false}, 1372, 0},
      {"Tcp4NoOptions", {false, true}, 1000, 0},
      {"Tcp6LongOptions", {true, true}, 1200, 40},
  };
  for (const auto& k : kinds) {
    const size_t headers =
        (k.flow.ipv6 ? 40 : 20) + (k.flow.tcp ? 20 + k.options : 8);
    // The largest an IPv4 total length or an IPv6 payload length allows.
    const size_t max_payload = 65535 - (k.flow.ipv6 ? headers - 40 : headers);
    for (size_t payload :
         {size_t{1}, size_t{k.gso}, size_t{3} * k.gso, size_t{3} * k.gso + 1,
          size_t{k.gso} - 1, max_payload}) {
      cases.push_back({std::string(k.name) + "_" + std::to_string(payload),
                       k.flow, payload, k.gso, k.options});
    }
  }
  return cases;
}

class SegmentSuperPacketTest : public ::testing::TestWithParam<Case> {};

TEST_P(SegmentSuperPacketTest,
       SegmentsCarryThePayloadInOrderWithVerifyingChecksums) {
  const Case& c = GetParam();
  const uint8_t flags = c.flow.tcp ? (kAck | kPsh | kFin | kCwr | kEce) : 0;
  SuperPacket super =
      BuildSuperPacket(c.flow, Payload(c.payload, 3), c.gso_size, 0xfffff000u,
                       flags, c.tcp_options, 0xfffe);
  ExpectSegmentsMatch(super, c, flags);
}

class SegmentTcpSuperPacketTest : public ::testing::TestWithParam<Case> {};

TEST_P(SegmentTcpSuperPacketTest, EcnBitInTheGsoTypeIsAccepted) {
  const Case& c = GetParam();
  SuperPacket super = BuildSuperPacket(
      c.flow, Payload(c.payload, 3), c.gso_size, 5, kAck | kCwr, c.tcp_options);
  super.header.gso_type |= kVirtioNetHdrGsoEcn;
  ExpectSegmentsMatch(super, c, kAck | kCwr);
}

std::vector<Case> TcpCases() {
  std::vector<Case> tcp;
  for (const Case& c : Cases()) {
    if (c.flow.tcp) tcp.push_back(c);
  }
  return tcp;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Sizes, SegmentSuperPacketTest,
                         ::testing::ValuesIn(Cases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Sizes, SegmentTcpSuperPacketTest,
                         ::testing::ValuesIn(TcpCases()), CaseName);

TEST(SegmentSuperPacket, WithoutNeedsCsumTheChecksumsAreStillComputed) {
  SuperPacket super = BuildSuperPacket(Flow{}, Payload(3000), 1000);
  super.header.flags = 0;
  super.header.csum_start = 0;
  super.header.csum_offset = 0;
  Slots slots(3);
  ASSERT_EQ(
      SegmentSuperPacket(super.header, super.packet, slots.packets).value(),
      3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(ChecksumsVerify(slots.Packet(i)));
}

TEST(SegmentSuperPacket, HdrLenIsIgnored) {
  SuperPacket super = BuildSuperPacket(Flow{}, Payload(3000), 1000);
  super.header.hdr_len = 1234;  // the kernel fills it loosely
  Slots slots(3);
  EXPECT_EQ(
      SegmentSuperPacket(super.header, super.packet, slots.packets).value(),
      3u);
}

TEST(SegmentSuperPacket,
     FewerSlotsThanSegmentsGivesThemInPiecesFromWhereItStopped) {
  const Case c{"pieces", Flow{}, 10 * 1000 + 17, 1000};
  SuperPacket super =
      BuildSuperPacket(c.flow, Payload(c.payload, 3), c.gso_size);
  auto split = ParseSuperPacket(super.header, super.packet);
  ASSERT_TRUE(split.ok());
  ASSERT_EQ(split->segments, 11u);
  Slots all(11);
  ASSERT_EQ(SegmentSuperPacket(super.header, super.packet, all.packets).value(),
            11u);
  size_t next = 0;
  for (int round = 0; round < 5 && next < split->segments; ++round) {
    Slots few(4);
    auto n = WriteSegments(*split, super.packet, next, few.packets);
    ASSERT_TRUE(n.ok());
    ASSERT_GT(*n, 0u);
    for (size_t i = 0; i < *n; ++i) {
      const ByteSpan want = all.Packet(next + i);
      const ByteSpan got = few.Packet(i);
      EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin(), got.end()))
          << "segment " << next + i;
    }
    next += *n;
  }
  EXPECT_EQ(next, 11u);
  Slots more(2);
  EXPECT_EQ(WriteSegments(*split, super.packet, next, more.packets).value(),
            0u);
}

TEST(SegmentSuperPacket, SegmentLongerThanItsSlotIsEmsgsize) {
  SuperPacket super = BuildSuperPacket(Flow{}, Payload(3000), 1400);
  Slots small(3, 1400);
  auto n = SegmentSuperPacket(super.header, super.packet, small.packets);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), EMSGSIZE);
  EXPECT_EQ(small.packets[0].len, 0u);
}

// Each malformation alone, on an otherwise valid TCPv4 or UDPv6 super-packet.
struct Malformed {
  const char* name;
  void (*mutate)(SuperPacket&);
  bool udp6 = false;
};

TEST(SegmentSuperPacket, MalformedSuperPacketsAreEinval) {
  const Malformed cases[] = {
      {"gso size 0", [](SuperPacket& s) { s.header.gso_size = 0; }},
      {"gso none",
       [](SuperPacket& s) { s.header.gso_type = kVirtioNetHdrGsoNone; }},
      {"ufo", [](SuperPacket& s) { s.header.gso_type = kVirtioNetHdrGsoUdp; }},
      {"unknown type", [](SuperPacket& s) { s.header.gso_type = 9; }},
      {"tcp6 on ipv4",
       [](SuperPacket& s) { s.header.gso_type = kVirtioNetHdrGsoTcpV6; }},
      {"udp type on tcp",
       [](SuperPacket& s) { s.header.gso_type = kVirtioNetHdrGsoUdpL4; }},
      {"version 5", [](SuperPacket& s) { s.packet[0] = 0x55; }},
      {"ihl 4", [](SuperPacket& s) { s.packet[0] = 0x44; }},
      {"ihl past the end",
       [](SuperPacket& s) {
         s.packet.resize(30);
         s.packet[0] = 0x4f;
       }},
      {"protocol udp", [](SuperPacket& s) { s.packet[9] = 17; }},
      {"total length short",
       [](SuperPacket& s) { StoreBe16(&s.packet[2], 100); }},
      {"truncated",
       [](SuperPacket& s) { s.packet.resize(s.packet.size() - 1); }},
      {"fragment", [](SuperPacket& s) { s.packet[6] |= 0x20; }},
      {"tcp data offset 4", [](SuperPacket& s) { s.packet[32] = 0x10; }},
      {"tcp header past the end",
       [](SuperPacket& s) {
         s.packet.resize(50);
         StoreBe16(&s.packet[2], 50);
         s.packet[32] = 0xf0;
       }},
      {"short tcp header",
       [](SuperPacket& s) {
         s.packet.resize(30);
         StoreBe16(&s.packet[2], 30);
       }},
      {"csum start wrong", [](SuperPacket& s) { s.header.csum_start = 0; }},
      {"csum offset wrong", [](SuperPacket& s) { s.header.csum_offset = 6; }},
      {"empty", [](SuperPacket& s) { s.packet.clear(); }},
      {"udp6 ecn",
       [](SuperPacket& s) { s.header.gso_type |= kVirtioNetHdrGsoEcn; }, true},
      {"udp6 payload length",
       [](SuperPacket& s) { StoreBe16(&s.packet[4], 9); }, true},
      {"udp6 extension header", [](SuperPacket& s) { s.packet[6] = 0; }, true},
      {"udp6 short", [](SuperPacket& s) { s.packet.resize(39); }, true},
      {"udp6 tcp4 type",
       [](SuperPacket& s) { s.header.gso_type = kVirtioNetHdrGsoTcpV4; }, true},
  };
  for (const Malformed& m : cases) {
    SCOPED_TRACE(m.name);
    SuperPacket super =
        m.udp6 ? BuildSuperPacket(Flow{true, false}, Payload(4000), 1000)
               : BuildSuperPacket(Flow{}, Payload(4000), 1000);
    m.mutate(super);
    Slots slots(8);
    auto n = SegmentSuperPacket(super.header, super.packet, slots.packets);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.error().code(), EINVAL) << n.error().message();
  }
}

TEST(SegmentSuperPacket, EmptyPayloadIsOneSegment) {
  SuperPacket super = BuildSuperPacket(Flow{}, {}, 1000, 9, kAck | kFin);
  Slots slots(2);
  ASSERT_EQ(
      SegmentSuperPacket(super.header, super.packet, slots.packets).value(),
      1u);
  EXPECT_TRUE(ChecksumsVerify(slots.Packet(0)));
  EXPECT_EQ(ParsePacket(slots.Packet(0))->flags, kAck | kFin);
}

// NEEDS_CSUM on a plain packet: the field holds the pseudo-header's sum.
TEST(CompleteChecksum, CompletesPartialTcpAndUdpChecksumsOnIpv4AndIpv6) {
  for (const Flow& flow : {Flow{false, true}, Flow{true, true},
                           Flow{false, false}, Flow{true, false}}) {
    for (size_t size :
         {size_t{0}, size_t{1}, size_t{2}, size_t{777}, size_t{1380}}) {
      SCOPED_TRACE(std::to_string(flow.ipv6) + std::to_string(flow.tcp) + " " +
                   std::to_string(size));
      const std::vector<uint8_t> payload = Payload(size, 11);
      const std::vector<uint8_t> complete =
          BuildPacket(flow, payload, 42, kAck, 8);
      std::vector<uint8_t> partial =
          BuildPacket(flow, payload, 42, kAck, 8, 0, true);
      EXPECT_FALSE(ChecksumsVerify(partial) && size > 0);
      VirtioNetHdr header;
      header.flags = kVirtioNetHdrFNeedsCsum;
      header.csum_start = flow.ipv6 ? 40 : 20;
      header.csum_offset = flow.tcp ? 16 : 6;
      ASSERT_TRUE(CompleteChecksum(header, partial).ok());
      EXPECT_TRUE(ChecksumsVerify(partial));
      EXPECT_EQ(partial, complete);
    }
  }
}

TEST(CompleteChecksum, WithoutTheFlagThePacketIsLeftAlone) {
  std::vector<uint8_t> packet =
      BuildPacket(Flow{}, Payload(100), 1, kAck, 0, 0, true);
  const std::vector<uint8_t> before = packet;
  VirtioNetHdr header;
  header.flags = kVirtioNetHdrFDataValid;
  header.csum_start = 60000;
  ASSERT_TRUE(CompleteChecksum(header, packet).ok());
  EXPECT_EQ(packet, before);
}

TEST(CompleteChecksum, FieldOutsideThePacketIsEinval) {
  std::vector<uint8_t> packet = BuildPacket(Flow{}, Payload(10), 1);
  VirtioNetHdr header;
  header.flags = kVirtioNetHdrFNeedsCsum;
  for (auto [start, offset] : {std::pair<uint16_t, uint16_t>{20, 29},
                               {65535, 65535},
                               {50, 0},
                               {49, 0}}) {
    header.csum_start = start;
    header.csum_offset = offset;
    auto r = CompleteChecksum(header, packet);
    ASSERT_FALSE(r.ok()) << start << "+" << offset;
    EXPECT_EQ(r.error().code(), EINVAL);
  }
  header.csum_start = 20;
  header.csum_offset = 28;  // the last two of 50 bytes: allowed
  EXPECT_TRUE(CompleteChecksum(header, packet).ok());
}

TEST(VirtioNetHdrBytes, ParseAndSerializeAreLittleEndianAndInverse) {
  const std::array<uint8_t, 10> bytes = {0x01, 0x81, 0x34, 0x12, 0x78,
                                         0x56, 0x14, 0x00, 0x10, 0x00};
  const VirtioNetHdr h = ParseVirtioNetHdr(bytes);
  EXPECT_EQ(h.flags, 1);
  EXPECT_EQ(h.gso_type, 0x81);
  EXPECT_EQ(h.hdr_len, 0x1234);
  EXPECT_EQ(h.gso_size, 0x5678);
  EXPECT_EQ(h.csum_start, 20);
  EXPECT_EQ(h.csum_offset, 16);
  std::array<uint8_t, 10> back{};
  SerializeVirtioNetHdr(h, back);
  EXPECT_EQ(back, bytes);
}

// The fuzzer's seeds (fuzz/corpus/tun_segment_fuzz): a virtio-net header
// and a packet each. ZL_WRITE_FUZZ_SEEDS=1 writes them; otherwise the files
// must be exactly these, each one accepted.
std::vector<std::pair<std::string, std::vector<uint8_t>>> FuzzSeeds() {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds;
  auto add = [&](const std::string& name, const VirtioNetHdr& header,
                 const std::vector<uint8_t>& packet) {
    std::vector<uint8_t> bytes(kVirtioNetHdrSize);
    SerializeVirtioNetHdr(header, bytes);
    bytes.insert(bytes.end(), packet.begin(), packet.end());
    seeds.emplace_back(name, std::move(bytes));
  };
  const struct {
    const char* name;
    Flow flow;
    size_t options;
  } kinds[] = {{"tcp4", {false, true}, 12},
               {"tcp6", {true, true}, 0},
               {"udp4", {false, false}, 0},
               {"udp6", {true, false}, 0}};
  for (const auto& k : kinds) {
    SuperPacket super = BuildSuperPacket(k.flow, Payload(2500, 1), 1000, 77,
                                         kAck | kPsh | kFin, k.options);
    add(std::string(k.name) + "_gso", super.header, super.packet);
    VirtioNetHdr csum = super.header;
    csum.gso_type = kVirtioNetHdrGsoNone;
    csum.gso_size = 0;
    add(std::string(k.name) + "_csum", csum,
        BuildPacket(k.flow, Payload(333, 2), 5, kAck, k.options, 0, true));
  }
  return seeds;
}

TEST(FuzzSeeds, CorpusHoldsTheSeedsAndEachIsAccepted) {
  const std::filesystem::path dir =
      std::filesystem::path(ZL_SOURCE_DIR) / "fuzz/corpus/tun_segment_fuzz";
  const bool write = std::getenv("ZL_WRITE_FUZZ_SEEDS") != nullptr;
  if (write) std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : FuzzSeeds()) {
    SCOPED_TRACE(name);
    const VirtioNetHdr header = ParseVirtioNetHdr(bytes);
    std::vector<uint8_t> packet(bytes.begin() + kVirtioNetHdrSize, bytes.end());
    if (header.gso_type == kVirtioNetHdrGsoNone) {
      ASSERT_TRUE(CompleteChecksum(header, packet).ok());
      EXPECT_TRUE(ChecksumsVerify(packet));
    } else {
      Slots slots(4);
      EXPECT_EQ(SegmentSuperPacket(header, packet, slots.packets).value(), 3u);
    }
    if (write) {
      std::ofstream(dir / name, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<long>(bytes.size()));
    }
    std::ifstream in(dir / name, std::ios::binary);
    const std::vector<uint8_t> stored{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(stored, bytes)
        << "stale seed; rewrite with ZL_WRITE_FUZZ_SEEDS=1";
  }
}

}  // namespace
}  // namespace zl::net
