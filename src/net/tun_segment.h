#pragma once
// The read side of a Linux TUN with IFF_VNET_HDR (linux_tun.h): what the
// kernel hands us is either a plain packet whose TCP/UDP checksum may be
// left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM), or a super-packet (GSO: one
// IP+TCP/UDP header over up to 64 KiB of payload) that we split into
// MTU-sized segments ourselves, as the kernel's GSO would have:
//   - IPv4: total length, header checksum, and the ID incremented per
//     segment; IPv6: payload length;
//   - TCP: the sequence number advanced per segment, FIN and PSH only on the
//     last segment, CWR only on the first;
//   - UDP (USO): the length per segment;
//   - each segment's TCP/UDP checksum computed once, over the pseudo-header,
//     the header and the payload (checksum.h).
// The kernel is trusted no further than the bytes: a header that does not
// fit the packet (impossible offsets, gso_size 0, a GSO type that does not
// match the IP header's protocol, lengths that disagree) is EINVAL, never a
// read out of bounds.
//
// Pure functions (no I/O, no allocation), thread-safe. Linux's ABI, but
// nothing here includes an OS header.

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/result.h"
#include "net/tun_device.h"
#include "net/virtio_net_hdr.h"

namespace zl::net {

inline constexpr size_t kVirtioNetHdrSize = sizeof(VirtioNetHdr);

// The 10 header bytes (little-endian fields) as a VirtioNetHdr, and back.
// `bytes` must hold at least kVirtioNetHdrSize bytes.
VirtioNetHdr ParseVirtioNetHdr(ByteSpan bytes);
void SerializeVirtioNetHdr(const VirtioNetHdr& header, MutableByteSpan out);

// Completes, in place, a checksum the kernel left partial: with
// kVirtioNetHdrFNeedsCsum, the 16-bit field at csum_start + csum_offset
// holds the pseudo-header's sum; the checksum is the sum from csum_start to
// the end of `packet`, stored inverted (0 as 0xffff, as the kernel does).
// Without the flag, nothing to do. EINVAL when the field lies outside
// `packet`.
Result<void> CompleteChecksum(const VirtioNetHdr& header,
                              MutableByteSpan packet);

// A super-packet checked against its header: how it splits.
struct GsoSplit {
  bool ipv6 = false;
  bool tcp = false;         // else UDP
  size_t ip_header = 0;     // bytes of the IP header
  size_t headers = 0;       // bytes of IP + TCP/UDP headers, copied per segment
  size_t segment_size = 0;  // payload bytes per segment (the last may be fewer)
  size_t payload = 0;       // payload bytes of the whole super-packet
  size_t segments = 0;      // at least 1

  // Bytes of segment `i` (headers included).
  size_t SegmentLength(size_t i) const;
};

// Checks a GSO super-packet (gso_type TCPv4, TCPv6, either with the ECN
// bit, or UDP_L4) against its header. EINVAL when the type is none of those
// or does not match the packet's IP version and protocol, gso_size is 0,
// the headers do not fit, the IP length fields disagree with the packet's
// size, IPv6 carries extension headers, or a checksum request (NEEDS_CSUM)
// points elsewhere than the TCP/UDP checksum field. The header's hdr_len is
// ignored (the kernel fills it loosely): the lengths come from the packet.
Result<GsoSplit> ParseSuperPacket(const VirtioNetHdr& header, ByteSpan packet);

// Writes segments first, first+1, ... of `packet` (checked by
// ParseSuperPacket into `split`) into out[0], out[1], ..., each a complete
// packet with its lengths and checksums set, until `out` or the segments
// run out; returns how many it wrote. EMSGSIZE, with nothing written, when a
// segment is longer than its slot's buffer.
Result<size_t> WriteSegments(const GsoSplit& split, ByteSpan packet,
                             size_t first, std::span<TunPacket> out);

// ParseSuperPacket, then WriteSegments from the first segment.
Result<size_t> SegmentSuperPacket(const VirtioNetHdr& header, ByteSpan packet,
                                  std::span<TunPacket> out);

}  // namespace zl::net
