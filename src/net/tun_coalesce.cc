#include "net/tun_coalesce.h"

#include <algorithm>
#include <cstring>

#include "net/checksum.h"
#include "net/ip_headers.h"

namespace zl::net {
namespace {

// Segments per super-packet: the kernel's UDP_MAX_SEGMENTS on older kernels,
// and well under IOV_MAX for one writev.
inline constexpr uint32_t kMaxSegments = 64;

// FNV-1a's constants over 8-byte words (byte by byte, the chain of
// multiplications was most of a batch's planning). Only for telling flows
// apart quickly: equal hashes are confirmed on the whole key.
template <size_t N>
uint64_t KeyHash(const std::array<uint8_t, N>& key) {
  static_assert(N % 8 == 0);
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < N; i += 8) {
    uint64_t word;
    std::memcpy(&word, key.data() + i, 8);
    h = (h ^ word) * 0x100000001b3u;
  }
  return h ^ (h >> 29);
}

// The pseudo-header's sum for a packet starting at `ip` (IPv4 or IPv6).
uint64_t PacketPseudoSum(const uint8_t* ip, uint8_t proto, size_t l4_length) {
  const bool v4 = (ip[0] >> 4) == 4;
  const size_t addr = v4 ? 4 : 16;
  const uint8_t* src = ip + (v4 ? 12 : 8);
  return PseudoHeaderSum(ByteSpan(src, addr), ByteSpan(src + addr, addr), proto,
                         static_cast<uint32_t>(l4_length));
}

// Where a lone packet's checksum field is, from the transport header, when
// the kernel may take its checksum as partial (VIRTIO_NET_HDR_F_NEEDS_CSUM);
// 0 to send the packet as it is. The field must lie inside the packet, and
// a UDP length must say the datagram's size (the partial sum covers the
// bytes to the end); a UDP datagram without a checksum has none to skip.
uint8_t PartialChecksumOffset(uint8_t proto, const uint8_t* l4,
                              size_t l4_size) {
  if (proto == kProtoTcp) {
    return l4_size >= kTcpHeaderSize ? kTcpChecksumOffset : 0;
  }
  if (l4_size < kUdpHeaderSize || LoadBe16(l4 + 4) != l4_size) return 0;
  return LoadBe16(l4 + kUdpChecksumOffset) != 0 ? kUdpChecksumOffset : 0;
}

}  // namespace

TunCoalescer::TunCoalescer(Options options) : options_(options) {}

// Reads what coalescing needs from one packet. Lengths are checked before
// every read; anything short or odd leaves it kForeign/kUnknown.
TunCoalescer::Packet TunCoalescer::Parse(MutableByteSpan bytes) const {
  Packet p;
  const uint8_t* d = bytes.data();
  const size_t n = bytes.size();
  if (n < 1) return p;
  const uint8_t version = d[0] >> 4;
  uint8_t proto = 0;
  size_t ip_len = 0;
  bool exact = false;  // the IP length fields say the buffer's size
  bool whole = false;  // and one unfragmented datagram we may merge
  if (version == 4) {
    if (n < kIpv4HeaderSize) return p;
    proto = d[9];
    const uint16_t frag = LoadBe16(d + 6);
    const bool fragment = (frag & 0x3fff) != 0;  // MF or an offset
    if (proto != kProtoTcp && proto != kProtoUdp && !fragment) {
      // ICMP, GRE...: no TCP/UDP flow to keep in order.
      p.kind = Kind::kForeign;
      return p;
    }
    ip_len = size_t{d[0] & 0x0fu} * 4;
    if (fragment || ip_len < kIpv4HeaderSize || ip_len > n) return p;
    const bool dont_fragment = (frag & 0x4000) != 0;
    exact = LoadBe16(d + 2) == n;
    whole = ip_len == kIpv4HeaderSize && exact && dont_fragment;
    if (whole && options_.verify_checksums) {
      whole = ChecksumFold(ChecksumAdd(bytes.first(ip_len))) == 0xffff;
    }
    p.key[1] = 4;
    std::memcpy(&p.key[2], d + 12, 8);
  } else if (version == 6) {
    if (n < kIpv6HeaderSize) return p;
    proto = d[6];
    if (proto == kProtoIcmpV6) {
      p.kind = Kind::kForeign;
      return p;
    }
    // Anything else may be TCP behind extension headers.
    if (proto != kProtoTcp && proto != kProtoUdp) return p;
    ip_len = kIpv6HeaderSize;
    exact = size_t{LoadBe16(d + 4)} + kIpv6HeaderSize == n;
    whole = exact;
    p.key[1] = 6;
    std::memcpy(&p.key[2], d + 8, 32);
  } else {
    return p;
  }
  p.key[0] = proto;
  const uint8_t* l4 = d + ip_len;
  const size_t l4_size = n - ip_len;
  if (l4_size < 4) return p;
  std::memcpy(&p.key[34], l4, 4);  // the ports
  p.kind = Kind::kFlow;
  p.ip_len = static_cast<uint8_t>(ip_len);
  if (!options_.verify_checksums && exact) {
    p.partial_offset = PartialChecksumOffset(proto, l4, l4_size);
  }
  if (!whole) return p;

  if (proto == kProtoTcp) {
    if (!options_.tcp || l4_size < kTcpHeaderSize) return p;
    const size_t tcp_len = (size_t{l4[12]} >> 4) * 4;
    // A header, options and at least one byte of payload.
    if (tcp_len < kTcpHeaderSize || tcp_len >= l4_size) return p;
    if ((l4[12] & 0x0f) != 0) return p;  // reserved bits, AE
    // ACK, maybe PSH; nothing else.
    const uint8_t flags = l4[13];
    if ((flags & ~kTcpFlagPsh) != kTcpFlagAck) return p;
    p.l4_len = static_cast<uint8_t>(tcp_len);
    p.psh = (flags & kTcpFlagPsh) != 0;
  } else {
    if (!options_.udp || l4_size <= kUdpHeaderSize) return p;
    if (LoadBe16(l4 + 4) != l4_size) return p;
    // IPv6 requires a checksum; a zero one (none) on IPv4 is fine: the
    // super-datagram gets one.
    const bool no_checksum = LoadBe16(l4 + 6) == 0;
    if (no_checksum && version == 6) return p;
    p.l4_len = kUdpHeaderSize;
    p.checksum_absent = no_checksum;
  }
  if (options_.verify_checksums && !p.checksum_absent) {
    // A bad checksum goes alone: the kernel drops it as it would have.
    const uint64_t sum = PacketPseudoSum(d, proto, l4_size);
    if (ChecksumFold(ChecksumAdd(ByteSpan(l4, l4_size), sum)) != 0xffff) {
      return p;
    }
  }
  p.payload = static_cast<uint32_t>(l4_size - p.l4_len);
  p.coalescable = true;
  return p;
}

// Whether `p` (packet `index`) may follow the last packet of `group`: same
// headers as the group's first packet but for the lengths, checksums, IDs,
// sequence number and PSH.
bool TunCoalescer::CanAppend(const Group& group,
                             std::span<const MutableByteSpan> packets,
                             size_t index, const Packet& p) const {
  if (group.closed || group.count >= kMaxSegments) return false;
  if (p.l4_len != group.l4_len || p.payload > group.gso_size) return false;
  if (group.total + p.payload > kMaxIpLength) return false;
  const uint8_t* f = packets[group.first].data();
  const uint8_t* d = packets[index].data();
  if (p.key[1] == 4) {
    if (d[1] != f[1] || d[8] != f[8]) return false;  // TOS, TTL
  } else {
    if (std::memcmp(d, f, 4) != 0 || d[7] != f[7])
      return false;  // class, flow label; hop limit
  }
  const uint8_t* fl4 = f + group.ip_len;
  const uint8_t* l4 = d + group.ip_len;
  if (p.key[0] == kProtoTcp) {
    if (LoadBe32(l4 + 4) != group.next_seq) return false;
    if (std::memcmp(l4 + 8, fl4 + 8, 4) != 0) return false;    // ACK number
    if (std::memcmp(l4 + 14, fl4 + 14, 2) != 0) return false;  // window
    if (std::memcmp(l4 + kTcpHeaderSize, fl4 + kTcpHeaderSize,
                    p.l4_len - kTcpHeaderSize) != 0) {
      return false;  // options
    }
  }
  return true;
}

TunCoalescer::Group* TunCoalescer::FindOpen(const Packet& p, uint64_t hash) {
  for (uint32_t g : open_) {
    Group& group = groups_[g];
    if (group.hash == hash && group.key == p.key) return &group;
  }
  return nullptr;
}

void TunCoalescer::Close(const Group* group) {
  const auto it = std::find_if(open_.begin(), open_.end(), [&](uint32_t g) {
    return &groups_[g] == group;
  });
  if (it != open_.end()) open_.erase(it);
}

void TunCoalescer::Open(std::span<const MutableByteSpan> packets, size_t index,
                        const Packet& p, uint64_t hash) {
  if (open_.size() >= kMaxOpenFlows) {
    // Forget the flow that was extended longest ago; its group is complete
    // as it stands, and a later packet of it starts a new one.
    const auto oldest = std::min_element(
        open_.begin(), open_.end(), [&](uint32_t a, uint32_t b) {
          return groups_[a].last < groups_[b].last;
        });
    open_.erase(oldest);
  }
  Group group;
  group.key = p.key;
  group.hash = hash;
  group.first = group.last = static_cast<uint32_t>(index);
  group.count = 1;
  group.ip_len = p.ip_len;
  group.l4_len = p.l4_len;
  group.gso_size = p.payload;
  group.total = static_cast<uint32_t>(packets[index].size());
  group.psh = p.psh;
  group.closed = p.psh;
  if (p.key[0] == kProtoTcp) {
    group.next_seq = LoadBe32(packets[index].data() + p.ip_len + 4) + p.payload;
  }
  group_of_[index] = static_cast<int32_t>(groups_.size());
  open_.push_back(static_cast<uint32_t>(groups_.size()));
  groups_.push_back(group);
}

void TunCoalescer::Append(Group& group, size_t index, const Packet& p) {
  next_[group.last] = static_cast<int32_t>(index);
  group.last = static_cast<uint32_t>(index);
  group.count++;
  group.total += p.payload;
  group.next_seq += p.payload;
  group.psh = p.psh;
  // A PSH segment or a short one is the last of its group.
  group.closed = p.psh || p.payload < group.gso_size;
  group_of_[index] = group_of_[group.first];
}

// Rewrites the group's first packet into the super-packet's headers and
// fills its virtio-net header.
void TunCoalescer::Finish(const Group& group, MutableByteSpan first,
                          VirtioNetHdr& hdr) const {
  uint8_t* d = first.data();
  const bool v4 = group.key[1] == 4;
  const bool tcp = group.key[0] == kProtoTcp;
  if (v4) {
    StoreBe16(d + 2, static_cast<uint16_t>(group.total));
    StoreBe16(d + 10, 0);
    StoreBe16(d + 10,
              ChecksumFinish(ChecksumAdd(ByteSpan(d, kIpv4HeaderSize))));
  } else {
    StoreBe16(d + 4, static_cast<uint16_t>(group.total - kIpv6HeaderSize));
  }
  uint8_t* l4 = d + group.ip_len;
  const uint32_t l4_total = group.total - group.ip_len;
  // Folded, not inverted: the kernel adds the sum of the bytes from
  // csum_start and inverts.
  const uint16_t partial =
      ChecksumFold(PacketPseudoSum(d, group.key[0], l4_total));
  if (tcp) {
    if (group.psh) l4[13] |= kTcpFlagPsh;
    StoreBe16(l4 + kTcpChecksumOffset, partial);
  } else {
    StoreBe16(l4 + 4, static_cast<uint16_t>(l4_total));
    StoreBe16(l4 + kUdpChecksumOffset, partial);
  }
  hdr.flags = kVirtioNetHdrFNeedsCsum;
  hdr.gso_type = tcp ? (v4 ? kVirtioNetHdrGsoTcpV4 : kVirtioNetHdrGsoTcpV6)
                     : kVirtioNetHdrGsoUdpL4;
  hdr.hdr_len = static_cast<uint16_t>(group.ip_len + group.l4_len);
  hdr.gso_size = static_cast<uint16_t>(group.gso_size);
  hdr.csum_start = group.ip_len;
  hdr.csum_offset =
      static_cast<uint16_t>(tcp ? kTcpChecksumOffset : kUdpChecksumOffset);
}

// A lone TCP/UDP packet the kernel need not verify (Options::
// verify_checksums off): its checksum field becomes the pseudo-header's
// folded sum, as in a super-packet, and the header asks the kernel to
// complete it. Local delivery takes such a packet (CHECKSUM_PARTIAL) as
// verified; a forwarded one leaves with the checksum completed, by the
// kernel or the outgoing NIC.
void TunCoalescer::FinishLone(Partial partial, MutableByteSpan packet,
                              VirtioNetHdr& hdr) const {
  uint8_t* d = packet.data();
  const uint8_t proto =
      partial.offset == kTcpChecksumOffset ? kProtoTcp : kProtoUdp;
  const size_t l4_size = packet.size() - partial.start;
  StoreBe16(d + partial.start + partial.offset,
            ChecksumFold(PacketPseudoSum(d, proto, l4_size)));
  hdr.flags = kVirtioNetHdrFNeedsCsum;
  hdr.csum_start = partial.start;
  hdr.csum_offset = partial.offset;
  // What the kernel raises it to anyway: the bytes it needs linear.
  hdr.hdr_len = static_cast<uint16_t>(partial.start + partial.offset + 2);
}

std::span<const TunWrite> TunCoalescer::Plan(
    std::span<const MutableByteSpan> packets) {
  const size_t n = packets.size();
  group_of_.assign(n, -1);
  next_.assign(n, -1);
  partial_.assign(n, Partial{});
  groups_.clear();
  groups_.reserve(n);
  open_.clear();
  open_.reserve(kMaxOpenFlows);

  // Pass 1: group the packets. A flow's packets are only ever added to the
  // flow's newest group, so writing each group where its first packet was
  // keeps every flow's order.
  if (options_.tcp || options_.udp || !options_.verify_checksums) {
    for (size_t i = 0; i < n; ++i) {
      const Packet p = Parse(packets[i]);
      partial_[i] = Partial{p.ip_len, p.partial_offset};
      if (p.kind == Kind::kForeign) continue;
      if (p.kind == Kind::kUnknown) {
        // Might belong to any flow (a fragment, extension headers, garbage):
        // nothing written after it may join a group written before it.
        open_.clear();
        continue;
      }
      const uint64_t hash = KeyHash(p.key);
      Group* group = FindOpen(p, hash);
      if (!p.coalescable) {
        if (group != nullptr) Close(group);
        continue;
      }
      if (group != nullptr && CanAppend(*group, packets, i, p)) {
        Append(*group, i, p);
        continue;
      }
      if (group != nullptr) Close(group);
      Open(packets, i, p, hash);
    }
  }

  // Pass 2: the writes, in the order of each one's first packet.
  headers_.assign(n, VirtioNetHdr{});
  iovs_.clear();
  iovs_.reserve(2 * n);
  write_iov_start_.clear();
  write_iov_start_.reserve(n);
  writes_.clear();
  writes_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t g = group_of_[i];
    const Group* group = g >= 0 ? &groups_[static_cast<size_t>(g)] : nullptr;
    if (group != nullptr && group->first != i)
      continue;  // inside an earlier write
    VirtioNetHdr& hdr = headers_[writes_.size()];
    write_iov_start_.push_back(iovs_.size());
    iovs_.push_back(iovec{&hdr, sizeof(VirtioNetHdr)});
    iovs_.push_back(iovec{packets[i].data(), packets[i].size()});
    size_t count = 1;
    if (group != nullptr && group->count >= 2) {
      Finish(*group, packets[i], hdr);
      const size_t headers = size_t{group->ip_len} + group->l4_len;
      for (int32_t j = next_[i]; j >= 0; j = next_[static_cast<size_t>(j)]) {
        const MutableByteSpan member = packets[static_cast<size_t>(j)];
        iovs_.push_back(
            iovec{member.data() + headers, member.size() - headers});
      }
      count = group->count;
      coalesced_ += count - 1;
    } else if (partial_[i].offset != 0) {
      FinishLone(partial_[i], packets[i], hdr);
    }
    writes_.push_back(TunWrite{{}, count});
  }
  // iovs_ no longer grows: the spans may point into it now.
  for (size_t w = 0; w < writes_.size(); ++w) {
    const size_t start = write_iov_start_[w];
    const size_t end =
        w + 1 < writes_.size() ? write_iov_start_[w + 1] : iovs_.size();
    writes_[w].iov = std::span<const iovec>(iovs_.data() + start, end - start);
  }
  return writes_;
}

}  // namespace zl::net
