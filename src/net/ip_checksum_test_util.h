#pragma once
// Helpers for net/'s tests and fuzzers only: fill in or check the checksums
// of an IPv4/IPv6 TCP/UDP packet the way a sender's stack would (RFC 791,
// RFC 768, RFC 9293, RFC 8200 §8.1). Not part of the layer's API.
//
// REQUIRES for each: the packet holds what the offsets name (the caller
// checks the lengths). Pure functions.

#include <cstddef>
#include <cstdint>

#include "base/bytes.h"
#include "net/checksum.h"

namespace zl::net::testing {

inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

// The IPv4 header checksum over the first `header_len` bytes.
inline void FillIpv4HeaderChecksum(MutableByteSpan pkt,
                                   size_t header_len = 20) {
  pkt[10] = pkt[11] = 0;
  StoreBe16(&pkt[10],
            ChecksumFinish(ChecksumAdd(ByteSpan(pkt).first(header_len))));
}

// The pseudo-header's sum for the transport part from `ip_len` to the end;
// the addresses are at 12 (IPv4) or 8 (IPv6).
inline uint64_t TransportPseudoSum(ByteSpan pkt, size_t ip_len, uint8_t proto) {
  const bool v6 = (pkt[0] >> 4) == 6;
  const size_t src = v6 ? 8 : 12, addr = v6 ? 16 : 4;
  return PseudoHeaderSum(pkt.subspan(src, addr), pkt.subspan(src + addr, addr),
                         proto, static_cast<uint32_t>(pkt.size() - ip_len));
}

// The TCP (field at +16) or UDP (+6) checksum of the whole packet.
inline void FillTransportChecksum(MutableByteSpan pkt, size_t ip_len,
                                  uint8_t proto) {
  const size_t field = ip_len + (proto == kIpProtoTcp ? 16 : 6);
  pkt[field] = pkt[field + 1] = 0;
  uint16_t sum = ChecksumFinish(ChecksumAdd(
      ByteSpan(pkt).subspan(ip_len), TransportPseudoSum(pkt, ip_len, proto)));
  if (proto == kIpProtoUdp && sum == 0) sum = 0xffff;  // 0 means "none" in UDP
  StoreBe16(&pkt[field], sum);
}

inline bool TransportChecksumValid(ByteSpan pkt, size_t ip_len, uint8_t proto) {
  return ChecksumFold(ChecksumAdd(pkt.subspan(ip_len),
                                  TransportPseudoSum(pkt, ip_len, proto))) ==
         0xffff;
}

// What the kernel does for VIRTIO_NET_HDR_F_NEEDS_CSUM: sums from
// `csum_start` to the end (the field holding the partial sum) and stores the
// finished checksum at csum_start + csum_offset.
inline void CompletePartialChecksum(MutableByteSpan pkt, size_t csum_start,
                                    size_t csum_offset, bool udp) {
  uint16_t sum = ChecksumFinish(ChecksumAdd(ByteSpan(pkt).subspan(csum_start)));
  if (udp && sum == 0) sum = 0xffff;
  StoreBe16(&pkt[csum_start + csum_offset], sum);
}

}  // namespace zl::net::testing
