// Fuzzes TunCoalescer::Plan with arbitrary batches. The input is
//   options byte: bit 0 tcp, bit 1 udp, bit 2 verify_checksums,
//                 bit 3 fill in every packet's checksums first (so mutated
//                 headers still reach the merging paths);
//   then packets, each a big-endian 16-bit length (mod 2048) and its bytes
//   (the last one takes what is left), at most 128.
// Checks, beyond "no crash" (ASan/UBSan in the fuzz build):
//  - every packet is in exactly one write, the packet counts add up, and a
//    write of k packets has k + 1 iovecs: the header, one whole packet, then
//    the payloads of later packets, each inside its own buffer;
//  - a lone packet has an all-zero header and its bytes untouched, except,
//    with verify_checksums off, a TCP/UDP packet whose lengths agree (and a
//    UDP one with a checksum): exactly those have a partial-checksum header
//    (NEEDS_CSUM at their checksum field, GSO_NONE), only that field
//    changed, and completing it as the kernel would gives a valid checksum,
//    the original one when the original was valid;
//  - a super-packet's header is in range (type, csum_start/offset, hdr_len,
//    gso_size with only the last payload shorter, <= 65535 bytes, <= 64
//    segments), its IP length field says its length, and the later packets
//    are untouched;
//  - when checksums are verified, the super-packet's checksum completes to
//    a valid one;
//  - no packet is written before an earlier one of its flow (or before an
//    earlier packet whose flow cannot be told).

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "net/checksum.h"
#include "net/ip_checksum_test_util.h"
#include "net/tun_coalesce.h"
#include "net/virtio_net_hdr.h"

namespace zl::net {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

constexpr size_t kMaxPackets = 128;

// Where a packet's transport header starts, and its protocol, if it is an
// unfragmented IPv4/IPv6 TCP/UDP packet with room for ports; else 0.
size_t TransportStart(ByteSpan p, uint8_t& proto) {
  if (p.size() >= 20 && (p[0] >> 4) == 4) {
    const size_t ihl = size_t{p[0] & 0x0fu} * 4;
    proto = p[9];
    const bool fragment = (LoadBe16(&p[6]) & 0x3fff) != 0;
    if (ihl < 20 || fragment || p.size() < ihl + 4) return 0;
    return (proto == 6 || proto == 17) ? ihl : 0;
  }
  if (p.size() >= 44 && (p[0] >> 4) == 6) {
    proto = p[6];
    return (proto == 6 || proto == 17) ? 40 : 0;
  }
  return 0;
}

// The flow, "" for a packet in no TCP/UDP flow (ICMP...), "?" when it
// cannot be told.
std::string FlowOf(ByteSpan p) {
  uint8_t proto = 0;
  const size_t l4 = TransportStart(p, proto);
  if (l4 != 0) {
    const bool v6 = (p[0] >> 4) == 6;
    std::string key(1, static_cast<char>(proto));
    key.append(reinterpret_cast<const char*>(&p[v6 ? 8 : 12]), v6 ? 32 : 8);
    key.append(reinterpret_cast<const char*>(&p[l4]), 4);
    return key;
  }
  if (p.size() >= 20 && (p[0] >> 4) == 4 && p[9] != 6 && p[9] != 17 &&
      (LoadBe16(&p[6]) & 0x3fff) == 0) {
    return "";
  }
  if (p.size() >= 40 && (p[0] >> 4) == 6 && p[6] == 58) return "";
  return "?";
}

void FillChecksums(MutableByteSpan p) {
  if (p.size() >= 20 && (p[0] >> 4) == 4) {
    const size_t ihl = size_t{p[0] & 0x0fu} * 4;
    if (ihl >= 20 && ihl <= p.size()) testing::FillIpv4HeaderChecksum(p, ihl);
  }
  uint8_t proto = 0;
  const size_t l4 = TransportStart(p, proto);
  if (l4 != 0 && p.size() >= l4 + (proto == 6 ? 20 : 8))
    testing::FillTransportChecksum(p, l4, proto);
}

// Where a lone packet's checksum field is (offset from the transport
// header), when a trusting coalescer must leave it partial: an unfragmented
// TCP/UDP packet whose IP length says its size, with a whole TCP header, or
// a UDP length that says its size and a checksum; else 0.
size_t PartialField(ByteSpan p, size_t& l4) {
  uint8_t proto = 0;
  l4 = TransportStart(p, proto);
  if (l4 == 0) return 0;
  const bool v6 = (p[0] >> 4) == 6;
  if ((v6 ? LoadBe16(&p[4]) + 40u : LoadBe16(&p[2])) != p.size()) return 0;
  const size_t size = p.size() - l4;
  if (proto == 6) return size >= 20 ? 16 : 0;
  if (size < 8 || LoadBe16(&p[l4 + 4]) != size) return 0;
  return LoadBe16(&p[l4 + 6]) != 0 ? 6 : 0;
}

void CheckLone(const VirtioNetHdr& hdr, const std::vector<uint8_t>& written,
               const std::vector<uint8_t>& original, bool trusted) {
  size_t l4 = 0;
  const size_t field = trusted ? PartialField(original, l4) : 0;
  if (field == 0) {
    Check(hdr.flags == 0 && hdr.gso_type == 0 && hdr.hdr_len == 0 &&
          hdr.gso_size == 0 && hdr.csum_start == 0 && hdr.csum_offset == 0);
    Check(written == original);
    return;
  }
  Check(hdr.flags == kVirtioNetHdrFNeedsCsum &&
        hdr.gso_type == kVirtioNetHdrGsoNone && hdr.gso_size == 0);
  Check(hdr.csum_start == l4 && hdr.csum_offset == field);
  Check(hdr.hdr_len == l4 + field + 2 && hdr.hdr_len <= written.size());
  std::vector<uint8_t> same = written;
  same[l4 + field] = original[l4 + field];
  same[l4 + field + 1] = original[l4 + field + 1];
  Check(same == original);
  const bool v6 = (original[0] >> 4) == 6;
  const uint8_t proto = v6 ? original[6] : original[9];
  std::vector<uint8_t> completed = written;
  testing::CompletePartialChecksum(completed, l4, field, proto == 17);
  Check(testing::TransportChecksumValid(completed, l4, proto));
  if (testing::TransportChecksumValid(original, l4, proto)) {
    // The same checksum. One allowance: a TCP checksum that computes to 0
    // verifies as 0x0000 and as 0xffff, and the kernel writes 0x0000 (UDP's
    // is always 0xffff, 0 meaning none).
    const uint16_t was = LoadBe16(&original[l4 + field]);
    const uint16_t is = LoadBe16(&completed[l4 + field]);
    Check(is == was || (proto == 6 && is == 0 && was == 0xffff));
  }
}

// Which packet an iovec's bytes lie in, or packets.size().
size_t Owner(const std::vector<std::vector<uint8_t>>& buffers, const iovec& v) {
  const auto* b = static_cast<const uint8_t*>(v.iov_base);
  for (size_t i = 0; i < buffers.size(); ++i) {
    const uint8_t* start = buffers[i].data();
    if (b >= start && b + v.iov_len <= start + buffers[i].size() &&
        (v.iov_len > 0 || b == start)) {
      return i;
    }
  }
  return buffers.size();
}

void CheckSuperPacket(const TunWrite& w, const VirtioNetHdr& hdr,
                      const std::vector<uint8_t>& first, bool verified) {
  const bool tcp = hdr.gso_type == kVirtioNetHdrGsoTcpV4 ||
                   hdr.gso_type == kVirtioNetHdrGsoTcpV6;
  Check(tcp || hdr.gso_type == kVirtioNetHdrGsoUdpL4);
  Check(hdr.flags == kVirtioNetHdrFNeedsCsum);
  const bool v6 = (first[0] >> 4) == 6;
  Check(hdr.gso_type != kVirtioNetHdrGsoTcpV4 || !v6);
  Check(hdr.gso_type != kVirtioNetHdrGsoTcpV6 || v6);
  Check(hdr.csum_start == (v6 ? 40 : 20));
  Check(hdr.csum_offset == (tcp ? 16 : 6));
  Check(hdr.hdr_len >= hdr.csum_start + (tcp ? 20 : 8) &&
        hdr.hdr_len < first.size());
  Check(hdr.gso_size == first.size() - hdr.hdr_len);
  Check(w.packets <= 64);
  size_t total = first.size();
  for (size_t k = 2; k < w.iov.size(); ++k) {
    Check(w.iov[k].iov_len > 0 && w.iov[k].iov_len <= hdr.gso_size);
    if (k + 1 < w.iov.size()) Check(w.iov[k].iov_len == hdr.gso_size);
    total += w.iov[k].iov_len;
  }
  Check(total <= 65535);
  Check(v6 ? LoadBe16(&first[4]) + 40u == total : LoadBe16(&first[2]) == total);
  if (!v6)
    Check(ChecksumFold(ChecksumAdd(ByteSpan(first).first(20))) == 0xffff);
  if (!tcp)
    Check(LoadBe16(&first[hdr.csum_start + 4]) == total - hdr.csum_start);
  if (verified) {
    std::vector<uint8_t> super(first);
    for (size_t k = 2; k < w.iov.size(); ++k) {
      const auto* b = static_cast<const uint8_t*>(w.iov[k].iov_base);
      super.insert(super.end(), b, b + w.iov[k].iov_len);
    }
    testing::CompletePartialChecksum(super, hdr.csum_start, hdr.csum_offset,
                                     !tcp);
    Check(testing::TransportChecksumValid(super, hdr.csum_start, tcp ? 6 : 17));
  }
}

}  // namespace
}  // namespace zl::net

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zl::net;
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  TunCoalescer::Options options;
  options.tcp = (mode & 1) != 0;
  options.udp = (mode & 2) != 0;
  options.verify_checksums = (mode & 4) != 0;
  std::vector<std::vector<uint8_t>> buffers;
  size_t at = 1;
  while (at < size && buffers.size() < kMaxPackets) {
    size_t len = size - at;
    if (len >= 2) {
      len = std::min<size_t>(zl::LoadBe16(data + at) % 2048, len - 2);
      at += 2;
    }
    buffers.emplace_back(data + at, data + at + len);
    at += len;
  }
  if ((mode & 8) != 0) {
    for (auto& b : buffers) FillChecksums(b);
  }
  const std::vector<std::vector<uint8_t>> original = buffers;
  std::vector<zl::MutableByteSpan> spans;

  // Objects for all inputs too: reuse across batch sizes, verifying and
  // trusting.
  static constexpr TunCoalescer::Options kTrusting{
      .tcp = true, .udp = true, .verify_checksums = false};
  static TunCoalescer* reused = new TunCoalescer({});
  static TunCoalescer* reused_trusting = new TunCoalescer(kTrusting);
  TunCoalescer fresh(options);
  for (TunCoalescer* c : {&fresh, reused, reused_trusting}) {
    const bool verifies = c == &fresh ? options.verify_checksums : c == reused;
    // Fresh copies, each with its own storage even when empty, so every
    // iovec names one buffer.
    spans.clear();
    for (size_t i = 0; i < buffers.size(); ++i) {
      buffers[i].clear();
      buffers[i].reserve(1);
      buffers[i].assign(original[i].begin(), original[i].end());
      spans.emplace_back(buffers[i]);
    }
    const auto writes = c->Plan(spans);
    std::vector<int> seen(buffers.size(), 0);
    std::vector<size_t> order;  // packet indices in the order written
    size_t packets = 0;
    for (const TunWrite& w : writes) {
      Check(w.packets >= 1 && w.iov.size() == w.packets + 1);
      Check(w.iov[0].iov_len == sizeof(VirtioNetHdr) &&
            w.iov[0].iov_base != nullptr);
      VirtioNetHdr hdr;
      std::memcpy(&hdr, w.iov[0].iov_base, sizeof(hdr));
      const size_t first = Owner(buffers, w.iov[1]);
      Check(first < buffers.size() &&
            w.iov[1].iov_base == buffers[first].data() &&
            w.iov[1].iov_len == buffers[first].size());
      seen[first]++;
      order.push_back(first);
      for (size_t k = 2; k < w.iov.size(); ++k) {
        const size_t j = Owner(buffers, w.iov[k]);
        Check(j < buffers.size() && j > first);
        Check(static_cast<const uint8_t*>(w.iov[k].iov_base) +
                  w.iov[k].iov_len ==
              buffers[j].data() + buffers[j].size());
        Check(buffers[j].size() - w.iov[k].iov_len == hdr.hdr_len);
        Check(buffers[j] == original[j]);
        seen[j]++;
        order.push_back(j);
      }
      packets += w.packets;
      if (w.packets == 1) {
        CheckLone(hdr, buffers[first], original[first], !verifies);
      } else {
        CheckSuperPacket(w, hdr, buffers[first], verifies);
      }
    }
    Check(packets == buffers.size());
    for (int s : seen) Check(s == 1);
    for (size_t a = 0; a < order.size(); ++a) {
      const std::string fa = FlowOf(original[order[a]]);
      if (fa.empty()) continue;
      for (size_t b = a + 1; b < order.size(); ++b) {
        const std::string fb = FlowOf(original[order[b]]);
        if (fb.empty()) continue;
        if (fa == fb || fa == "?" || fb == "?") Check(order[a] < order[b]);
      }
    }
  }
  return 0;
}
