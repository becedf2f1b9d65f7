#pragma once
// Test-only: IPv4/IPv6 TCP and UDP packets for the TUN offload tests
// (tun_segment_test, tun_offload_roundtrip_test, linux_tun_netns_test, the
// fuzzer's seeds), built with complete checksums, or as the kernel hands a
// super-packet over (lengths of the whole, the transport checksum left as
// the pseudo-header's sum), and checked with a checksum written apart from
// net/checksum.h (plain 16-bit words), so the two check each other.
//
// Not part of the layer's API. Thread safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "net/virtio_net_hdr.h"

namespace zl::net::testing {

struct Flow {
  bool ipv6 = false;
  bool tcp = true;       // else UDP
  uint8_t src_last = 1;  // last byte of 10.0.0.x / fd00::x
  uint8_t dst_last = 2;
  uint16_t src_port = 1000;
  uint16_t dst_port = 2000;
};

inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10,
                         kEce = 0x40, kCwr = 0x80;

// The IP header's length, the transport header's, for `flow`
// (`tcp_options` bytes of TCP options, a multiple of 4).
inline size_t IpHeaderLength(const Flow& flow) { return flow.ipv6 ? 40 : 20; }
inline size_t TransportHeaderLength(const Flow& flow, size_t tcp_options = 0) {
  return flow.tcp ? 20 + tcp_options : 8;
}

// Sums 16-bit big-endian words the plain way.
inline uint32_t NaiveSum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (n % 2) sum += uint32_t{p[n - 1]} << 8;
  return sum;
}
inline uint16_t NaiveFold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The pseudo-header's sum for `packet` (IP header first) carrying a
// transport of `transport_length` bytes.
inline uint32_t NaivePseudoSum(ByteSpan packet, size_t transport_length) {
  const bool v6 = packet[0] >> 4 == 6;
  const uint8_t proto = v6 ? packet[6] : packet[9];
  uint32_t sum = v6 ? NaiveSum(&packet[8], 32) : NaiveSum(&packet[12], 8);
  return sum + proto + static_cast<uint32_t>(transport_length >> 16) +
         static_cast<uint32_t>(transport_length & 0xffff);
}

// Builds a packet of `flow` with `payload`; `seq` and `flags` for TCP.
// Complete checksums unless `partial`: then lengths as given and the
// transport checksum is the pseudo-header's folded sum, as the kernel leaves
// it for VIRTIO_NET_HDR_F_NEEDS_CSUM. IPv4 ID `ip_id`.
inline std::vector<uint8_t> BuildPacket(const Flow& flow, ByteSpan payload,
                                        uint32_t seq = 0, uint8_t flags = kAck,
                                        size_t tcp_options = 0,
                                        uint16_t ip_id = 0,
                                        bool partial = false) {
  const size_t ip = IpHeaderLength(flow);
  const size_t th = TransportHeaderLength(flow, tcp_options);
  std::vector<uint8_t> p(ip + th + payload.size());
  const uint8_t proto = flow.tcp ? 6 : 17;
  if (flow.ipv6) {
    p[0] = 0x60;
    StoreBe16(&p[4], static_cast<uint16_t>(th + payload.size()));
    p[6] = proto;
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = flow.src_last;
    p[24] = 0xfd;
    p[39] = flow.dst_last;
  } else {
    p[0] = 0x45;
    StoreBe16(&p[2], static_cast<uint16_t>(p.size()));
    StoreBe16(&p[4], ip_id);
    p[6] = 0x40;  // DF
    p[8] = 64;
    p[9] = proto;
    p[12] = 10;
    p[15] = flow.src_last;
    p[16] = 10;
    p[19] = flow.dst_last;
    StoreBe16(&p[10],
              static_cast<uint16_t>(~NaiveFold(NaiveSum(p.data(), 20))));
  }
  uint8_t* t = &p[ip];
  StoreBe16(t, flow.src_port);
  StoreBe16(t + 2, flow.dst_port);
  size_t check;
  if (flow.tcp) {
    StoreBe32(t + 4, seq);
    StoreBe32(t + 8, 0x01020304);  // ack
    t[12] = static_cast<uint8_t>((th / 4) << 4);
    t[13] = flags;
    StoreBe16(t + 14, 65535);
    for (size_t i = 0; i < tcp_options; ++i)
      t[20 + i] = i % 4 == 3 ? 0 : 1;  // NOPs, EOL
    check = 16;
  } else {
    StoreBe16(t + 4, static_cast<uint16_t>(th + payload.size()));
    check = 6;
  }
  std::copy(payload.begin(), payload.end(), t + th);
  const uint32_t pseudo = NaivePseudoSum(p, th + payload.size());
  if (partial) {
    StoreBe16(t + check, NaiveFold(pseudo));
  } else {
    uint16_t sum = static_cast<uint16_t>(
        ~NaiveFold(NaiveSum(t, th + payload.size(), pseudo)));
    if (sum == 0) sum = 0xffff;
    StoreBe16(t + check, sum);
  }
  return p;
}

// Recomputes the IPv4 header checksum and the TCP/UDP checksum of `p` (a
// packet BuildPacket made, then edited).
inline void RefreshChecksums(std::vector<uint8_t>& p) {
  const bool v6 = p[0] >> 4 == 6;
  const size_t ip = v6 ? 40 : (p[0] & 0xf) * 4u;
  if (!v6) {
    StoreBe16(&p[10], 0);
    StoreBe16(&p[10],
              static_cast<uint16_t>(~NaiveFold(NaiveSum(p.data(), ip))));
  }
  const size_t check = ip + ((v6 ? p[6] : p[9]) == 6 ? 16 : 6);
  const size_t transport = p.size() - ip;
  StoreBe16(&p[check], 0);
  uint16_t sum = static_cast<uint16_t>(
      ~NaiveFold(NaiveSum(&p[ip], transport, NaivePseudoSum(p, transport))));
  StoreBe16(&p[check], sum == 0 ? 0xffff : sum);
}

// `n` bytes of a pattern that differs per `salt`.
inline std::vector<uint8_t> Payload(size_t n, uint32_t salt = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>((i * 131 + salt * 7 + (i >> 8)) & 0xff);
  return v;
}

// A super-packet as the kernel reads it out: the header and the packet.
struct SuperPacket {
  VirtioNetHdr header;
  std::vector<uint8_t> packet;
};

inline SuperPacket BuildSuperPacket(const Flow& flow, ByteSpan payload,
                                    uint16_t gso_size, uint32_t seq = 1000,
                                    uint8_t flags = kAck | kPsh,
                                    size_t tcp_options = 0,
                                    uint16_t ip_id = 7) {
  SuperPacket s;
  s.packet = BuildPacket(flow, payload, seq, flags, tcp_options, ip_id,
                         /*partial=*/true);
  s.header.flags = kVirtioNetHdrFNeedsCsum;
  s.header.gso_type =
      flow.tcp ? (flow.ipv6 ? kVirtioNetHdrGsoTcpV6 : kVirtioNetHdrGsoTcpV4)
               : kVirtioNetHdrGsoUdpL4;
  s.header.gso_size = gso_size;
  s.header.csum_start = static_cast<uint16_t>(IpHeaderLength(flow));
  s.header.csum_offset = flow.tcp ? 16 : 6;
  s.header.hdr_len = static_cast<uint16_t>(
      IpHeaderLength(flow) + TransportHeaderLength(flow, tcp_options));
  return s;
}

// A packet's fields, for comparisons.
struct Parsed {
  bool ipv6 = false;
  bool tcp = false;
  std::vector<uint8_t> src, dst;
  uint16_t src_port = 0, dst_port = 0;
  uint16_t ip_id = 0;
  uint32_t seq = 0;
  uint8_t flags = 0;
  size_t headers = 0;  // IP + transport header bytes
  std::vector<uint8_t> payload;
};

// Parses a complete IPv4/IPv6 TCP/UDP packet, checking every length field
// against its size; nullopt when one disagrees.
inline std::optional<Parsed> ParsePacket(ByteSpan p) {
  Parsed r;
  if (p.empty()) return std::nullopt;
  r.ipv6 = p[0] >> 4 == 6;
  size_t ip;
  uint8_t proto;
  if (r.ipv6) {
    if (p.size() < 40 || LoadBe16(&p[4]) + 40u != p.size()) return std::nullopt;
    ip = 40;
    proto = p[6];
    r.src.assign(&p[8], &p[24]);
    r.dst.assign(&p[24], &p[40]);
  } else {
    if (p.size() < 20 || p[0] >> 4 != 4) return std::nullopt;
    ip = (p[0] & 0xf) * 4u;
    if (ip < 20 || p.size() < ip || LoadBe16(&p[2]) != p.size())
      return std::nullopt;
    proto = p[9];
    r.ip_id = LoadBe16(&p[4]);
    r.src.assign(&p[12], &p[16]);
    r.dst.assign(&p[16], &p[20]);
  }
  if (proto != 6 && proto != 17) return std::nullopt;
  r.tcp = proto == 6;
  size_t th = 8;
  if (r.tcp) {
    if (p.size() < ip + 20) return std::nullopt;
    th = (p[ip + 12] >> 4) * 4u;
    if (th < 20) return std::nullopt;
  }
  if (p.size() < ip + th) return std::nullopt;
  if (!r.tcp && LoadBe16(&p[ip + 4]) != p.size() - ip) return std::nullopt;
  r.src_port = LoadBe16(&p[ip]);
  r.dst_port = LoadBe16(&p[ip + 2]);
  if (r.tcp) {
    r.seq = LoadBe32(&p[ip + 4]);
    r.flags = p[ip + 13];
  }
  r.headers = ip + th;
  r.payload.assign(p.begin() + static_cast<long>(ip + th), p.end());
  return r;
}

// Whether the IPv4 header checksum (if any) and the TCP/UDP checksum over
// the pseudo-header verify (sum to 0xffff); the packet must parse.
inline bool ChecksumsVerify(ByteSpan p) {
  auto parsed = ParsePacket(p);
  if (!parsed) return false;
  const size_t ip = parsed->ipv6 ? 40 : (p[0] & 0xf) * 4u;
  if (!parsed->ipv6 && NaiveFold(NaiveSum(p.data(), ip)) != 0xffff)
    return false;
  const size_t transport = p.size() - ip;
  return NaiveFold(NaiveSum(&p[ip], transport, NaivePseudoSum(p, transport))) ==
         0xffff;
}

}  // namespace zl::net::testing
