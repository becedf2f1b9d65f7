#include "net/tun_coalesce.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "net/checksum.h"
#include "net/ip_checksum_test_util.h"

namespace zl::net {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08,
                  kAck = 0x10, kUrg = 0x20;

// One IPv4/IPv6 TCP or UDP packet, with correct lengths and checksums.
struct Spec {
  bool v6 = false;
  uint8_t proto = 6;
  uint8_t src_host = 1;  // 10.0.0.x or fd00::x
  uint8_t dst_host = 2;
  uint16_t sport = 40000;
  uint16_t dport = 5201;
  uint32_t seq = 1000;
  uint32_t ack = 77;
  uint16_t window = 512;
  uint8_t flags = kAck;
  uint8_t tos = 0;
  uint8_t ttl = 64;
  uint16_t ip_id = 100;
  bool df = true;
  Bytes tcp_options;  // a multiple of 4 bytes
  size_t payload = 1000;
  uint8_t fill = 0;  // payload byte i is fill + i
  bool udp_no_checksum = false;
};

size_t IpHeaderSize(bool v6) { return v6 ? 40 : 20; }

void FillTransportChecksum(Bytes& pkt, bool v6, uint8_t proto) {
  testing::FillTransportChecksum(pkt, IpHeaderSize(v6), proto);
}

void FillIpv4HeaderChecksum(Bytes& pkt) {
  testing::FillIpv4HeaderChecksum(pkt);
}

Bytes Build(const Spec& s) {
  const size_t ip = IpHeaderSize(s.v6);
  const size_t l4 = s.proto == 6 ? 20 + s.tcp_options.size() : 8;
  Bytes pkt(ip + l4 + s.payload);
  uint8_t* d = pkt.data();
  if (s.v6) {
    d[0] = 0x60 | (s.tos >> 4);
    d[1] = static_cast<uint8_t>(s.tos << 4);
    StoreBe16(d + 4, static_cast<uint16_t>(l4 + s.payload));
    d[6] = s.proto;
    d[7] = s.ttl;
    d[8] = 0xfd;
    d[23] = s.src_host;
    d[24] = 0xfd;
    d[39] = s.dst_host;
  } else {
    d[0] = 0x45;
    d[1] = s.tos;
    StoreBe16(d + 2, static_cast<uint16_t>(pkt.size()));
    StoreBe16(d + 4, s.ip_id);
    d[6] = s.df ? 0x40 : 0;
    d[8] = s.ttl;
    d[9] = s.proto;
    d[12] = 10;
    d[15] = s.src_host;
    d[16] = 10;
    d[19] = s.dst_host;
  }
  uint8_t* t = d + ip;
  StoreBe16(t, s.sport);
  StoreBe16(t + 2, s.dport);
  if (s.proto == 6) {
    StoreBe32(t + 4, s.seq);
    StoreBe32(t + 8, s.ack);
    t[12] = static_cast<uint8_t>((l4 / 4) << 4);
    t[13] = s.flags;
    StoreBe16(t + 14, s.window);
    if (!s.tcp_options.empty()) {
      std::memcpy(t + 20, s.tcp_options.data(), s.tcp_options.size());
    }
  } else {
    StoreBe16(t + 4, static_cast<uint16_t>(l4 + s.payload));
  }
  for (size_t i = 0; i < s.payload; ++i)
    t[l4 + i] = static_cast<uint8_t>(s.fill + i);
  if (!s.v6) FillIpv4HeaderChecksum(pkt);
  if (!(s.proto == 17 && s.udp_no_checksum))
    FillTransportChecksum(pkt, s.v6, s.proto);
  return pkt;
}

// `count` consecutive segments of one flow, IPv4 IDs counting up as the
// kernel's segmentation makes them.
std::vector<Bytes> Segments(Spec s, size_t count) {
  std::vector<Bytes> out;
  for (size_t i = 0; i < count; ++i) {
    out.push_back(Build(s));
    s.seq += static_cast<uint32_t>(s.payload);
    s.ip_id++;
    s.fill = static_cast<uint8_t>(s.fill + 1);
  }
  return out;
}

struct Written {
  VirtioNetHdr hdr;
  Bytes bytes;
  size_t packets;
};

Written Gather(const TunWrite& w) {
  Written out{};
  EXPECT_GE(w.iov.size(), 2u);
  EXPECT_EQ(w.iov[0].iov_len, sizeof(VirtioNetHdr));
  std::memcpy(&out.hdr, w.iov[0].iov_base, sizeof(VirtioNetHdr));
  for (size_t i = 1; i < w.iov.size(); ++i) {
    const auto* p = static_cast<const uint8_t*>(w.iov[i].iov_base);
    out.bytes.insert(out.bytes.end(), p, p + w.iov[i].iov_len);
  }
  out.packets = w.packets;
  return out;
}

// The write's packet with the checksum the kernel completes (a super-packet,
// or a lone packet sent with a partial checksum).
Bytes CompleteChecksum(const Written& w) {
  Bytes b = w.bytes;
  testing::CompletePartialChecksum(b, w.hdr.csum_start, w.hdr.csum_offset,
                                   w.hdr.csum_offset == 6);
  return b;
}

bool TransportChecksumValid(const Bytes& pkt) {
  const bool v6 = (pkt[0] >> 4) == 6;
  return testing::TransportChecksumValid(pkt, IpHeaderSize(v6),
                                         v6 ? pkt[6] : pkt[9]);
}

// Splits a write back into packets as the kernel's GSO would: each segment
// gets the super-packet's headers, its own lengths, sequence number, IPv4 ID
// and checksums, and PSH only on the last.
std::vector<Bytes> Segment(const Written& w) {
  if (w.hdr.gso_type == kVirtioNetHdrGsoNone) {
    if (w.hdr.flags == 0) return {w.bytes};
    EXPECT_EQ(w.hdr.flags, kVirtioNetHdrFNeedsCsum);
    return {CompleteChecksum(w)};
  }
  const Bytes super = CompleteChecksum(w);
  EXPECT_TRUE(TransportChecksumValid(super));
  const bool v6 = (super[0] >> 4) == 6;
  const bool tcp = w.hdr.gso_type != kVirtioNetHdrGsoUdpL4;
  const size_t ip = IpHeaderSize(v6), hdr_len = w.hdr.hdr_len;
  std::vector<Bytes> out;
  size_t k = 0;
  for (size_t off = hdr_len; off < super.size(); off += w.hdr.gso_size, ++k) {
    const size_t len = std::min<size_t>(w.hdr.gso_size, super.size() - off);
    Bytes seg(super.begin(), super.begin() + static_cast<ptrdiff_t>(hdr_len));
    seg.insert(seg.end(), super.begin() + static_cast<ptrdiff_t>(off),
               super.begin() + static_cast<ptrdiff_t>(off + len));
    const bool last = off + len == super.size();
    if (v6) {
      StoreBe16(&seg[4], static_cast<uint16_t>(seg.size() - 40));
    } else {
      StoreBe16(&seg[2], static_cast<uint16_t>(seg.size()));
      StoreBe16(&seg[4], static_cast<uint16_t>(LoadBe16(&super[4]) + k));
      FillIpv4HeaderChecksum(seg);
    }
    if (tcp) {
      StoreBe32(&seg[ip + 4], static_cast<uint32_t>(LoadBe32(&super[ip + 4]) +
                                                    k * w.hdr.gso_size));
      if (!last) seg[ip + 13] &= static_cast<uint8_t>(~(kPsh | kFin));
      FillTransportChecksum(seg, v6, 6);
    } else {
      StoreBe16(&seg[ip + 4], static_cast<uint16_t>(seg.size() - ip));
      FillTransportChecksum(seg, v6, 17);
    }
    out.push_back(std::move(seg));
  }
  EXPECT_EQ(out.size(), w.packets);
  return out;
}

// A packet's flow as the test sees it: addresses and ports, or the whole
// packet for anything else.
std::string FlowOf(const Bytes& pkt) {
  if (pkt.size() >= 44 && (pkt[0] >> 4) == 6 && (pkt[6] == 6 || pkt[6] == 17)) {
    return std::string(pkt.begin() + 6, pkt.begin() + 7) +
           std::string(pkt.begin() + 8, pkt.begin() + 44);
  }
  if (pkt.size() >= 24 && pkt[0] == 0x45 && (pkt[9] == 6 || pkt[9] == 17)) {
    return std::string(pkt.begin() + 9, pkt.begin() + 10) +
           std::string(pkt.begin() + 12, pkt.begin() + 24);
  }
  return std::string(pkt.begin(), pkt.end());
}

// Plans `input`, then checks what every test must hold: each packet is in
// exactly one write (segmenting the writes gives the input back, byte for
// byte), within a flow in the input's order. Returns the writes.
std::vector<Written> PlanAndCheck(TunCoalescer& coalescer,
                                  const std::vector<Bytes>& input) {
  std::vector<Bytes> buffers = input;
  std::vector<MutableByteSpan> spans(buffers.begin(), buffers.end());
  const auto writes = coalescer.Plan(spans);
  std::vector<Written> out;
  std::vector<Bytes> segments;
  size_t packets = 0;
  for (const TunWrite& w : writes) {
    out.push_back(Gather(w));
    packets += w.packets;
    for (Bytes& s : Segment(out.back())) segments.push_back(std::move(s));
  }
  EXPECT_EQ(packets, input.size());
  EXPECT_EQ(segments.size(), input.size());
  // Match each segment to an unused input packet with the same bytes.
  std::vector<bool> used(input.size());
  std::vector<size_t> origin;
  for (const Bytes& s : segments) {
    size_t found = input.size();
    for (size_t i = 0; i < input.size() && found == input.size(); ++i) {
      if (!used[i] && input[i] == s) found = i;
    }
    EXPECT_LT(found, input.size())
        << "a written packet is not one of the input";
    if (found == input.size()) return out;
    used[found] = true;
    origin.push_back(found);
  }
  for (size_t a = 0; a < origin.size(); ++a) {
    for (size_t b = a + 1; b < origin.size(); ++b) {
      if (FlowOf(input[origin[a]]) == FlowOf(input[origin[b]])) {
        EXPECT_LT(origin[a], origin[b]) << "flow order broken";
      }
    }
  }
  return out;
}

bool IsAllZero(const VirtioNetHdr& h) {
  return h.flags == 0 && h.gso_type == 0 && h.hdr_len == 0 && h.gso_size == 0 &&
         h.csum_start == 0 && h.csum_offset == 0;
}

std::vector<size_t> Counts(const std::vector<Written>& writes) {
  std::vector<size_t> counts;
  for (const Written& w : writes) counts.push_back(w.packets);
  return counts;
}

std::vector<Bytes> Concat(std::initializer_list<std::vector<Bytes>> parts) {
  std::vector<Bytes> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

using Counts_ = std::vector<size_t>;

TEST(TunCoalescer, TenTcpSegmentsBecomeOneSuperPacket) {
  TunCoalescer c({});
  const std::vector<Bytes> input = Segments(Spec{}, 10);
  const auto writes = PlanAndCheck(c, input);
  ASSERT_EQ(writes.size(), 1u);
  const Written& w = writes[0];
  EXPECT_EQ(w.packets, 10u);
  EXPECT_EQ(w.hdr.flags, kVirtioNetHdrFNeedsCsum);
  EXPECT_EQ(w.hdr.gso_type, kVirtioNetHdrGsoTcpV4);
  EXPECT_EQ(w.hdr.gso_size, 1000);
  EXPECT_EQ(w.hdr.hdr_len, 40);
  EXPECT_EQ(w.hdr.csum_start, 20);
  EXPECT_EQ(w.hdr.csum_offset, 16);
  ASSERT_EQ(w.bytes.size(), 40u + 10 * 1000);
  EXPECT_EQ(LoadBe16(&w.bytes[2]), 10040);
  // The IPv4 header checksum verifies.
  EXPECT_EQ(ChecksumFold(ChecksumAdd(ByteSpan(w.bytes).first(20))), 0xffff);
  // The field holds the pseudo-header's folded, uninverted sum.
  const uint16_t partial = ChecksumFold(PseudoHeaderSum(
      ByteSpan(&w.bytes[12], 4), ByteSpan(&w.bytes[16], 4), 6, 10020));
  EXPECT_EQ(LoadBe16(&w.bytes[36]), partial);
  EXPECT_FALSE(TransportChecksumValid(w.bytes));
  EXPECT_TRUE(TransportChecksumValid(CompleteChecksum(w)));
  EXPECT_EQ(c.coalesced(), 9u);
}

TEST(TunCoalescer, SuperPacketIsGatheredWithoutCopies) {
  TunCoalescer c({});
  std::vector<Bytes> buffers = Segments(Spec{}, 3);
  std::vector<MutableByteSpan> spans(buffers.begin(), buffers.end());
  const auto writes = c.Plan(spans);
  ASSERT_EQ(writes.size(), 1u);
  ASSERT_EQ(writes[0].iov.size(), 4u);
  EXPECT_EQ(writes[0].iov[1].iov_base, buffers[0].data());
  EXPECT_EQ(writes[0].iov[1].iov_len, buffers[0].size());
  EXPECT_EQ(writes[0].iov[2].iov_base, buffers[1].data() + 40);
  EXPECT_EQ(writes[0].iov[3].iov_len, buffers[2].size() - 40);
}

TEST(TunCoalescer, ShorterSegmentEndsItsGroup) {
  TunCoalescer c({});
  Spec s;
  auto first = Segments(s, 5);
  s.seq += 5000;
  s.ip_id += 5;
  s.payload = 300;
  auto short_one = Segments(s, 1);
  s.seq += 300;
  s.ip_id += 1;
  s.payload = 1000;
  auto rest = Segments(s, 2);
  const auto writes = PlanAndCheck(c, Concat({first, short_one, rest}));
  EXPECT_EQ(Counts(writes), (Counts_{6, 2}));
  EXPECT_EQ(writes[0].hdr.gso_size, 1000);
  EXPECT_EQ(writes[0].bytes.size(), 40u + 5000 + 300);
}

TEST(TunCoalescer, LargerSegmentStartsANewGroup) {
  TunCoalescer c({});
  Spec s;
  s.payload = 500;
  auto small = Segments(s, 2);
  s.seq += 1000;
  s.payload = 1000;
  auto large = Segments(s, 2);
  EXPECT_EQ(Counts(PlanAndCheck(c, Concat({small, large}))), (Counts_{2, 2}));
}

TEST(TunCoalescer, PshSegmentEndsItsGroupAndLendsItsFlag) {
  TunCoalescer c({});
  auto input = Segments(Spec{}, 6);
  Spec psh;
  psh.seq = 1000 + 3 * 1000;
  psh.flags = kAck | kPsh;
  psh.ip_id = 103;
  psh.fill = 3;
  input[3] = Build(psh);
  const auto writes = PlanAndCheck(c, input);
  EXPECT_EQ(Counts(writes), (Counts_{4, 2}));
  EXPECT_EQ(writes[0].bytes[20 + 13], kAck | kPsh);
  EXPECT_EQ(writes[1].bytes[20 + 13], kAck);
}

TEST(TunCoalescer, SequenceGapSplitsTheGroup) {
  TunCoalescer c({});
  Spec s;
  auto a = Segments(s, 3);
  s.seq += 3000 + 1;  // one byte lost
  auto b = Segments(s, 3);
  EXPECT_EQ(Counts(PlanAndCheck(c, Concat({a, b}))), (Counts_{3, 3}));
}

TEST(TunCoalescer, ReorderedSegmentsAreNotWrittenOutOfOrder) {
  TunCoalescer c({});
  auto run = Segments(Spec{}, 6);
  const std::vector<Bytes> input = {run[0], run[1], run[3],
                                    run[2], run[4], run[5]};
  // 0-1 merge; 3 cannot follow 1, 2 not 3, 4 not 2; 4-5 merge.
  EXPECT_EQ(Counts(PlanAndCheck(c, input)), (Counts_{2, 1, 1, 2}));
}

TEST(TunCoalescer, InterleavedFlowsFormOneGroupEach) {
  TunCoalescer c({});
  Spec b_spec;
  b_spec.sport = 40001;
  auto a = Segments(Spec{}, 3);
  auto b = Segments(b_spec, 3);
  const auto writes = PlanAndCheck(c, {a[0], b[0], a[1], b[1], a[2], b[2]});
  EXPECT_EQ(Counts(writes), (Counts_{3, 3}));
  EXPECT_EQ(LoadBe16(&writes[0].bytes[20]), 40000);
  EXPECT_EQ(LoadBe16(&writes[1].bytes[20]), 40001);
}

TEST(TunCoalescer, DifferingHeadersDoNotMerge) {
  const struct {
    const char* what;
    void (*change)(Spec&);
  } cases[] = {
      {"ack", [](Spec& s) { s.ack++; }},
      {"window", [](Spec& s) { s.window++; }},
      {"ttl", [](Spec& s) { s.ttl--; }},
      {"tos", [](Spec& s) { s.tos = 0x01; }},
      {"options",
       [](Spec& s) { s.tcp_options = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1}; }},
      {"other options",
       [](Spec& s) { s.tcp_options = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2}; }},
  };
  for (const auto& test : cases) {
    SCOPED_TRACE(test.what);
    TunCoalescer c({});
    Spec s;
    // NOP NOP timestamps
    s.tcp_options = {1, 1, 8, 10, 0, 0, 0, 8, 0, 0, 0, 1};
    auto a = Segments(s, 2);
    s.seq += 2000;
    s.ip_id += 2;
    test.change(s);
    auto b = Segments(s, 2);
    EXPECT_EQ(Counts(PlanAndCheck(c, Concat({a, b}))), (Counts_{2, 2}));
  }
}

TEST(TunCoalescer, SegmentsWithOtherFlagsGoAloneAndEndTheirFlowsGroup) {
  for (const uint8_t flags :
       {uint8_t(kSyn | kAck), uint8_t(kFin | kAck), uint8_t(kRst | kAck),
        uint8_t(kUrg | kAck), uint8_t(0), uint8_t(kAck | 0x40),
        uint8_t(kAck | 0x80)}) {
    SCOPED_TRACE(static_cast<int>(flags));
    TunCoalescer c({});
    auto run = Segments(Spec{}, 5);
    Spec odd;
    odd.seq = 1000 + 2 * 1000;
    odd.ip_id = 102;
    odd.fill = 2;
    odd.flags = flags;
    run[2] = Build(odd);
    // 3 and 4 follow 2 in sequence, but must not join 0-1 ahead of it.
    EXPECT_EQ(Counts(PlanAndCheck(c, run)), (Counts_{2, 1, 2}));
  }
}

TEST(TunCoalescer, PureAcksGoAlone) {
  TunCoalescer c({});
  Spec s;
  s.payload = 0;
  EXPECT_EQ(Counts(PlanAndCheck(c, {Build(s), Build(s), Build(s)})),
            (Counts_{1, 1, 1}));
}

TEST(TunCoalescer, UnmergeablePacketOfAFlowEndsItsGroup) {
  // A pure ACK between segments 1 and 2: segment 2 follows 1 in sequence but
  // must not be written ahead of the ACK.
  TunCoalescer c({});
  auto run = Segments(Spec{}, 4);
  Spec ack;
  ack.seq = 1000 + 2 * 1000;
  ack.payload = 0;
  run.insert(run.begin() + 2, Build(ack));
  EXPECT_EQ(Counts(PlanAndCheck(c, run)), (Counts_{2, 1, 2}));
}

TEST(TunCoalescer, SuperPacketStaysWithin65535Bytes) {
  TunCoalescer c({});
  Spec s;
  s.payload = 1400;
  // 40 + 46 * 1400 = 64440 fits; a 47th segment would not.
  const auto writes = PlanAndCheck(c, Segments(s, 50));
  EXPECT_EQ(Counts(writes), (Counts_{46, 4}));
  EXPECT_EQ(LoadBe16(&writes[0].bytes[2]), 64440);
}

TEST(TunCoalescer, AtMost64SegmentsPerSuperPacket) {
  TunCoalescer c({});
  Spec s;
  s.payload = 100;
  EXPECT_EQ(Counts(PlanAndCheck(c, Segments(s, 70))), (Counts_{64, 6}));
}

TEST(TunCoalescer, Ipv6TcpFlowsMerge) {
  TunCoalescer c({});
  Spec s;
  s.v6 = true;
  s.tos = 0x28;
  Spec other = s;
  other.dst_host = 3;
  auto a = Segments(s, 4);
  auto b = Segments(other, 2);
  const auto writes = PlanAndCheck(c, {a[0], a[1], b[0], a[2], b[1], a[3]});
  ASSERT_EQ(Counts(writes), (Counts_{4, 2}));
  EXPECT_EQ(writes[0].hdr.gso_type, kVirtioNetHdrGsoTcpV6);
  EXPECT_EQ(writes[0].hdr.csum_start, 40);
  EXPECT_EQ(writes[0].hdr.hdr_len, 60);
  EXPECT_EQ(LoadBe16(&writes[0].bytes[4]), 20 + 4 * 1000);
}

TEST(TunCoalescer, Ipv4AndIpv6WithTheSamePortsAreDifferentFlows) {
  TunCoalescer c({});
  Spec v6;
  v6.v6 = true;
  auto a = Segments(Spec{}, 2);
  auto b = Segments(v6, 2);
  EXPECT_EQ(Counts(PlanAndCheck(c, {a[0], b[0], a[1], b[1]})), (Counts_{2, 2}));
}

TEST(TunCoalescer, Ipv4WithoutDontFragmentGoesAlone) {
  TunCoalescer c({});
  Spec s;
  s.df = false;
  EXPECT_EQ(Counts(PlanAndCheck(c, Segments(s, 3))), (Counts_{1, 1, 1}));
}

TEST(TunCoalescer, TcpAloneWhenTsoIsOff) {
  TunCoalescer c({.tcp = false, .udp = true});
  EXPECT_EQ(Counts(PlanAndCheck(c, Segments(Spec{}, 3))), (Counts_{1, 1, 1}));
  EXPECT_EQ(c.coalesced(), 0u);
}

Spec UdpSpec() {
  Spec s;
  s.proto = 17;
  s.payload = 1200;
  return s;
}

TEST(TunCoalescer, UdpAloneWhenUsoIsOff) {
  TunCoalescer c({});
  EXPECT_EQ(Counts(PlanAndCheck(c, Segments(UdpSpec(), 4))),
            (Counts_{1, 1, 1, 1}));
}

TEST(TunCoalescer, UdpDatagramsMergeWithUso) {
  TunCoalescer c({.tcp = true, .udp = true});
  Spec s = UdpSpec();
  auto run = Segments(s, 4);
  s.payload = 200;
  s.ip_id += 4;
  run.push_back(Build(s));  // a shorter last one
  s.payload = 1200;
  s.ip_id++;
  run.push_back(Build(s));
  const auto writes = PlanAndCheck(c, run);
  ASSERT_EQ(Counts(writes), (Counts_{5, 1}));
  const Written& w = writes[0];
  EXPECT_EQ(w.hdr.gso_type, kVirtioNetHdrGsoUdpL4);
  EXPECT_EQ(w.hdr.flags, kVirtioNetHdrFNeedsCsum);
  EXPECT_EQ(w.hdr.gso_size, 1200);
  EXPECT_EQ(w.hdr.hdr_len, 28);
  EXPECT_EQ(w.hdr.csum_start, 20);
  EXPECT_EQ(w.hdr.csum_offset, 6);
  EXPECT_EQ(LoadBe16(&w.bytes[24]), 8 + 4 * 1200 + 200);  // UDP length
  EXPECT_EQ(c.coalesced(), 4u);
}

TEST(TunCoalescer, Ipv6UdpMergesWithUso) {
  TunCoalescer c({.tcp = true, .udp = true});
  Spec s = UdpSpec();
  s.v6 = true;
  const auto writes = PlanAndCheck(c, Segments(s, 3));
  ASSERT_EQ(Counts(writes), (Counts_{3}));
  EXPECT_EQ(writes[0].hdr.gso_type, kVirtioNetHdrGsoUdpL4);
  EXPECT_EQ(writes[0].hdr.csum_start, 40);
}

TEST(TunCoalescer, Ipv4UdpWithoutChecksumMergesAndGetsOne) {
  TunCoalescer c({.tcp = true, .udp = true});
  Spec s = UdpSpec();
  s.udp_no_checksum = true;
  std::vector<Bytes> buffers = Segments(s, 3);
  std::vector<MutableByteSpan> spans(buffers.begin(), buffers.end());
  const auto writes = c.Plan(spans);
  ASSERT_EQ(writes.size(), 1u);
  const Written w = Gather(writes[0]);
  EXPECT_TRUE(TransportChecksumValid(CompleteChecksum(w)));
}

TEST(TunCoalescer, UdpDatagramsOverTheLengthCapSplit) {
  TunCoalescer c({.tcp = true, .udp = true});
  Spec s = UdpSpec();
  s.payload = 1472;
  // 28 + 44 * 1472 = 64796 fits; 45 would not.
  EXPECT_EQ(Counts(PlanAndCheck(c, Segments(s, 50))), (Counts_{44, 6}));
}

Bytes Icmp() {
  Bytes pkt(28);
  pkt[0] = 0x45;
  StoreBe16(&pkt[2], 28);
  pkt[6] = 0x40;
  pkt[8] = 64;
  pkt[9] = 1;
  pkt[12] = pkt[16] = 10;
  pkt[15] = 1;
  pkt[19] = 2;
  pkt[20] = 8;  // echo request
  FillIpv4HeaderChecksum(pkt);
  return pkt;
}

TEST(TunCoalescer, IcmpGoesAloneAndDoesNotSplitAFlow) {
  TunCoalescer c({});
  auto run = Segments(Spec{}, 2);
  const auto writes = PlanAndCheck(c, {run[0], Icmp(), run[1]});
  ASSERT_EQ(Counts(writes), (Counts_{2, 1}));
  EXPECT_EQ(writes[1].hdr.gso_type, kVirtioNetHdrGsoNone);
}

TEST(TunCoalescer, MalformedPacketsGoAloneUntouched) {
  TunCoalescer c({.tcp = true, .udp = true});
  const Bytes whole = Build(Spec{});
  Bytes bad_ip_checksum = whole;
  bad_ip_checksum[10] ^= 1;
  Bytes bad_tcp_checksum = whole;
  bad_tcp_checksum[36] ^= 1;
  Bytes long_ip_length = whole;
  StoreBe16(&long_ip_length[2], static_cast<uint16_t>(whole.size() + 1));
  FillIpv4HeaderChecksum(long_ip_length);
  Bytes trailing = whole;
  trailing.push_back(0);
  Bytes fragment = whole;
  fragment[6] = 0x20;  // MF
  FillIpv4HeaderChecksum(fragment);
  Bytes options = whole;  // four NOP options: the same flow, but not merged
  options.insert(options.begin() + 20, {1, 1, 1, 1});
  options[0] = 0x46;
  StoreBe16(&options[2], static_cast<uint16_t>(options.size()));
  testing::FillIpv4HeaderChecksum(options, 24);
  const std::vector<Bytes> garbage = {
      {},
      {0x45},
      Bytes(whole.begin(), whole.begin() + 19),
      Bytes(whole.begin(), whole.begin() + 22),
      Bytes(whole.begin(), whole.begin() + 39),
      Bytes(whole.begin(), whole.begin() + 500),
      Bytes(60, 0x60),
      Bytes(60, 0xff),
      bad_ip_checksum,
      bad_tcp_checksum,
      long_ip_length,
      trailing,
      fragment,
      options,
  };
  for (const Bytes& g : garbage) {
    SCOPED_TRACE(g.size());
    // Each one twice, between good segments of the flow.
    auto run = Segments(Spec{}, 4);
    std::vector<Bytes> input = {run[0], run[1], g, g, run[2], run[3]};
    const auto writes = PlanAndCheck(c, input);
    ASSERT_EQ(Counts(writes), (Counts_{2, 1, 1, 2}));
    EXPECT_EQ(writes[1].bytes, g);
    EXPECT_EQ(writes[2].bytes, g);
    for (const Written* w : {&writes[1], &writes[2]})
      EXPECT_TRUE(IsAllZero(w->hdr));
  }
}

// ---- Trusted packets (verify_checksums off, as LinuxTun::WriteBatch) ----

constexpr TunCoalescer::Options kTrusted{
    .tcp = true, .udp = true, .verify_checksums = false};

// Deliberate: decrypted packets are authenticated, so a wrong checksum is
// the peer's own and is not looked at. The segment merges, and the super-
// packet's checksum is completed over the bytes as they are (so its segments
// leave with right checksums).
TEST(TunCoalescer, TrustedSegmentWithAWrongChecksumIsMerged) {
  TunCoalescer c(kTrusted);
  std::vector<Bytes> buffers = Segments(Spec{}, 3);
  buffers[1][36] ^= 0xff;
  const Bytes payload(buffers[1].begin() + 40, buffers[1].end());
  std::vector<MutableByteSpan> spans(buffers.begin(), buffers.end());
  const auto writes = c.Plan(spans);
  ASSERT_EQ(writes.size(), 1u);
  const Written w = Gather(writes[0]);
  EXPECT_EQ(w.packets, 3u);
  EXPECT_TRUE(
      std::equal(payload.begin(), payload.end(), w.bytes.begin() + 1040));
  EXPECT_TRUE(TransportChecksumValid(CompleteChecksum(w)));
}

TEST(TunCoalescer, VerifiedSegmentWithAWrongChecksumGoesAlone) {
  TunCoalescer c({});
  std::vector<Bytes> input = Segments(Spec{}, 3);
  input[1][36] ^= 0xff;
  const auto writes = PlanAndCheck(c, input);
  ASSERT_EQ(Counts(writes), (Counts_{1, 1, 1}));
  EXPECT_TRUE(IsAllZero(writes[1].hdr));  // the kernel verifies and drops it
}

// What the kernel computes for a partial checksum: the sum from csum_start
// to the end, with the field as written, inverted (0 as 0xffff for UDP).
uint16_t KernelCompletes(const Written& w) {
  const uint16_t sum =
      ChecksumFinish(ChecksumAdd(ByteSpan(w.bytes).subspan(w.hdr.csum_start)));
  return w.hdr.csum_offset == 6 && sum == 0 ? 0xffff : sum;
}

// A lone TCP/UDP packet leaves its checksum to the kernel as a partial one
// (the TUN ignores DATA_VALID), which local delivery does not verify; when
// the kernel completes it, it is the packet's own checksum again.
TEST(TunCoalescer, TrustedLonePacketIsSentWithAPartialChecksum) {
  for (const bool v6 : {false, true}) {
    for (const uint8_t proto : {uint8_t{6}, uint8_t{17}}) {
      SCOPED_TRACE(std::string(v6 ? "IPv6 " : "IPv4 ") +
                   (proto == 6 ? "TCP" : "UDP"));
      Spec s;
      s.v6 = v6;
      s.proto = proto;
      s.flags = kSyn;
      s.payload = 333;
      const Bytes original = Build(s);
      const size_t ip = IpHeaderSize(v6), field = proto == 6 ? 16 : 6;
      TunCoalescer c(kTrusted);
      const auto writes = PlanAndCheck(c, {original});
      ASSERT_EQ(writes.size(), 1u);
      const Written& w = writes[0];
      EXPECT_EQ(w.hdr.flags, kVirtioNetHdrFNeedsCsum);
      EXPECT_EQ(w.hdr.gso_type, kVirtioNetHdrGsoNone);
      EXPECT_EQ(w.hdr.gso_size, 0);
      EXPECT_EQ(w.hdr.csum_start, ip);
      EXPECT_EQ(w.hdr.csum_offset, field);
      EXPECT_EQ(w.hdr.hdr_len, ip + field + 2);
      // Only the checksum field changed: it holds the pseudo-header's folded
      // sum, which completes to the original checksum.
      Bytes expect = original;
      const uint16_t partial =
          ChecksumFold(testing::TransportPseudoSum(original, ip, proto));
      StoreBe16(&expect[ip + field], partial);
      EXPECT_EQ(w.bytes, expect);
      EXPECT_EQ(KernelCompletes(w), LoadBe16(&original[ip + field]));
    }
  }
}

TEST(TunCoalescer, TrustedUdpChecksumThatSumsToZeroCompletesAs0xffff) {
  Spec s;
  s.proto = 17;
  s.payload = 100;
  Bytes pkt = Build(s);
  // Choose the first payload word so that the checksum computes to 0 (sent
  // as 0xffff, RFC 768).
  StoreBe16(&pkt[28], 0);
  StoreBe16(&pkt[26], 0);
  const uint16_t rest = ChecksumFold(ChecksumAdd(
      ByteSpan(pkt).subspan(20), testing::TransportPseudoSum(pkt, 20, 17)));
  StoreBe16(&pkt[28], static_cast<uint16_t>(0xffff - rest));
  FillTransportChecksum(pkt, false, 17);
  ASSERT_EQ(LoadBe16(&pkt[26]), 0xffff);
  TunCoalescer c(kTrusted);
  const auto writes = PlanAndCheck(c, {pkt});
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].hdr.flags, kVirtioNetHdrFNeedsCsum);
  EXPECT_EQ(KernelCompletes(writes[0]), 0xffff);
}

// Deliberate, as for merging: a lone packet with a wrong checksum is
// delivered too (the kernel does not verify a partial checksum), and leaves
// with a right one if it is forwarded.
TEST(TunCoalescer, TrustedLonePacketWithAWrongChecksumIsLeftToTheKernel) {
  Bytes bad = Build(Spec{});
  bad[36] ^= 0xff;
  TunCoalescer c(kTrusted);
  std::vector<Bytes> buffers = {bad};
  std::vector<MutableByteSpan> spans(buffers.begin(), buffers.end());
  const auto writes = c.Plan(spans);
  ASSERT_EQ(writes.size(), 1u);
  const Written w = Gather(writes[0]);
  EXPECT_EQ(w.hdr.flags, kVirtioNetHdrFNeedsCsum);
  EXPECT_TRUE(TransportChecksumValid(CompleteChecksum(w)));
  EXPECT_EQ(LoadBe16(&CompleteChecksum(w)[36]), LoadBe16(&Build(Spec{})[36]));
}

TEST(TunCoalescer, TrustedLonePacketsGetAPartialChecksumWithoutTsoOrUso) {
  // A TUN with checksum offload only: nothing merges, every TCP/UDP packet
  // still skips the kernel's verification.
  TunCoalescer c({.tcp = false, .udp = false, .verify_checksums = false});
  const auto writes = PlanAndCheck(c, Segments(Spec{}, 3));
  ASSERT_EQ(Counts(writes), (Counts_{1, 1, 1}));
  for (const Written& w : writes)
    EXPECT_EQ(w.hdr.flags, kVirtioNetHdrFNeedsCsum);
}

TEST(TunCoalescer, VerifiedLonePacketKeepsTheZeroHeader) {
  Spec s;
  s.flags = kSyn;
  TunCoalescer c({});
  const auto writes = PlanAndCheck(c, {Build(s)});
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_TRUE(IsAllZero(writes[0].hdr));
}

TEST(TunCoalescer, TrustedPacketsWithoutAChecksumToSkipKeepTheZeroHeader) {
  const Bytes tcp = Build(Spec{});
  Spec udp_spec;
  udp_spec.proto = 17;
  udp_spec.udp_no_checksum = true;
  Spec udp6_spec = udp_spec;
  udp6_spec.v6 = true;
  Bytes fragment = tcp;
  fragment[6] = 0x20;  // MF
  FillIpv4HeaderChecksum(fragment);
  Bytes trailing = tcp;  // IP length short of the buffer
  trailing.push_back(0);
  Bytes short_tcp(tcp.begin(), tcp.begin() + 30);  // 10 bytes of TCP header
  StoreBe16(&short_tcp[2], 30);
  FillIpv4HeaderChecksum(short_tcp);
  Spec udp_with_sum = udp_spec;
  udp_with_sum.udp_no_checksum = false;
  Bytes udp_length = Build(udp_with_sum);  // UDP length short of the datagram
  StoreBe16(&udp_length[24],
            static_cast<uint16_t>(LoadBe16(&udp_length[24]) - 1));
  Spec ext_spec;
  ext_spec.v6 = true;
  Bytes extension = Build(ext_spec);
  extension[6] = 0;  // a hop-by-hop header, as far as the coalescer can tell
  const std::vector<Bytes> packets = {
      Icmp(),          fragment,         trailing,   short_tcp,
      Build(udp_spec), Build(udp6_spec), udp_length, extension};
  for (const Bytes& p : packets) {
    SCOPED_TRACE(p.size());
    TunCoalescer c(kTrusted);
    const auto writes = PlanAndCheck(c, {p});
    ASSERT_EQ(writes.size(), 1u);
    EXPECT_TRUE(IsAllZero(writes[0].hdr));
    EXPECT_EQ(writes[0].bytes, p);
  }
}

TEST(TunCoalescer, ManyFlowsStayInOrder) {
  // More flows than are tracked at once, round robin: every packet still
  // goes out once, each flow in order.
  TunCoalescer c({});
  std::vector<std::vector<Bytes>> flows;
  for (uint16_t f = 0; f < TunCoalescer::kMaxOpenFlows + 4; ++f) {
    Spec s;
    s.sport = static_cast<uint16_t>(30000 + f);
    s.payload = 100;
    flows.push_back(Segments(s, 3));
  }
  std::vector<Bytes> input;
  for (size_t i = 0; i < 3; ++i) {
    for (const auto& f : flows) input.push_back(f[i]);
  }
  PlanAndCheck(c, input);
  // With few enough flows, each becomes one write.
  TunCoalescer few({});
  input.clear();
  for (size_t i = 0; i < 3; ++i) {
    for (size_t f = 0; f < TunCoalescer::kMaxOpenFlows; ++f)
      input.push_back(flows[f][i]);
  }
  EXPECT_EQ(PlanAndCheck(few, input).size(), TunCoalescer::kMaxOpenFlows);
}

TEST(TunCoalescer, EmptyBatchPlansNothing) {
  TunCoalescer c({});
  EXPECT_TRUE(c.Plan({}).empty());
}

TEST(TunCoalescer, PlansAgainAfterALargerBatch) {
  TunCoalescer c({});
  PlanAndCheck(c, Segments(Spec{}, 40));
  Spec s;
  s.sport = 1;
  EXPECT_EQ(Counts(PlanAndCheck(c, Segments(s, 2))), (Counts_{2}));
  EXPECT_EQ(c.coalesced(), 39u + 1u);
}

}  // namespace
}  // namespace zl::net
