#include "net/tun_segment.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "net/checksum.h"
#include "net/ip_headers.h"

namespace zl::net {
namespace {


Error Invalid(const std::string& why) {
  return MakeError(EINVAL, "bad TUN super-packet: " + why);
}

// The finished transport checksum over `segment` (IP header first), whose
// checksum field is zero: pseudo-header plus header plus payload, one pass.
uint16_t TransportChecksum(const GsoSplit& split, ByteSpan segment) {
  const ByteSpan transport = segment.subspan(split.ip_header);
  const uint8_t protocol = split.tcp ? kProtoTcp : kProtoUdp;
  const uint64_t pseudo =
      split.ipv6
          ? PseudoHeaderSum(segment.subspan(8, 16), segment.subspan(24, 16),
                            protocol, static_cast<uint32_t>(transport.size()))
          : PseudoHeaderSum(segment.subspan(12, 4), segment.subspan(16, 4),
                            protocol, static_cast<uint32_t>(transport.size()));
  const uint16_t sum = ChecksumFinish(ChecksumAdd(transport, pseudo));
  // UDP sends a computed 0 as 0xffff (0 means "no checksum"); for TCP the
  // two are the same value in ones' complement.
  return sum == 0 ? 0xffff : sum;
}

}  // namespace

VirtioNetHdr ParseVirtioNetHdr(ByteSpan bytes) {
  VirtioNetHdr h;
  h.flags = bytes[0];
  h.gso_type = bytes[1];
  h.hdr_len = LoadLe16(&bytes[2]);
  h.gso_size = LoadLe16(&bytes[4]);
  h.csum_start = LoadLe16(&bytes[6]);
  h.csum_offset = LoadLe16(&bytes[8]);
  return h;
}

void SerializeVirtioNetHdr(const VirtioNetHdr& header, MutableByteSpan out) {
  out[0] = header.flags;
  out[1] = header.gso_type;
  StoreLe16(&out[2], header.hdr_len);
  StoreLe16(&out[4], header.gso_size);
  StoreLe16(&out[6], header.csum_start);
  StoreLe16(&out[8], header.csum_offset);
}

Result<void> CompleteChecksum(const VirtioNetHdr& header,
                              MutableByteSpan packet) {
  if ((header.flags & kVirtioNetHdrFNeedsCsum) == 0) return Ok();
  const size_t field = size_t{header.csum_start} + header.csum_offset;
  if (field + 2 > packet.size()) {
    return Invalid("checksum at " + std::to_string(header.csum_start) + "+" +
                   std::to_string(header.csum_offset) + " beyond " +
                   std::to_string(packet.size()) + " bytes");
  }
  const uint16_t sum =
      ChecksumFinish(ChecksumAdd(packet.subspan(header.csum_start)));
  StoreBe16(&packet[field], sum == 0 ? 0xffff : sum);
  return Ok();
}

size_t GsoSplit::SegmentLength(size_t i) const {
  const size_t offset = i * segment_size;
  const size_t rest = payload > offset ? payload - offset : 0;
  return headers + (rest < segment_size ? rest : segment_size);
}

Result<GsoSplit> ParseSuperPacket(const VirtioNetHdr& header, ByteSpan packet) {
  GsoSplit split;
  const uint8_t type =
      header.gso_type & static_cast<uint8_t>(~kVirtioNetHdrGsoEcn);
  int want_version = 0;  // 0: either
  switch (type) {
    case kVirtioNetHdrGsoTcpV4:
      want_version = 4;
      split.tcp = true;
      break;
    case kVirtioNetHdrGsoTcpV6:
      want_version = 6;
      split.tcp = true;
      break;
    case kVirtioNetHdrGsoUdpL4:
      if (header.gso_type & kVirtioNetHdrGsoEcn)
        return Invalid("ECN bit on UDP");
      break;
    default:
      return Invalid("GSO type " + std::to_string(header.gso_type));
  }
  if (header.gso_size == 0) return Invalid("gso_size 0");
  if (packet.empty()) return Invalid("empty");
  const int version = packet[0] >> 4;
  if (version != 4 && version != 6)
    return Invalid("IP version " + std::to_string(version));
  if (want_version != 0 && version != want_version) {
    return Invalid("GSO type " + std::to_string(header.gso_type) + " on IPv" +
                   std::to_string(version));
  }
  split.ipv6 = version == 6;
  const uint8_t protocol = split.tcp ? kProtoTcp : kProtoUdp;
  if (split.ipv6) {
    if (packet.size() < kIpv6HeaderSize) return Invalid("short IPv6 header");
    if (packet[6] != protocol) {
      return Invalid("IPv6 next header " + std::to_string(packet[6]) +
                     " (extension headers are not split)");
    }
    if (LoadBe16(&packet[4]) + kIpv6HeaderSize != packet.size()) {
      return Invalid("IPv6 payload length disagrees with the packet's size");
    }
    split.ip_header = kIpv6HeaderSize;
  } else {
    if (packet.size() < kIpv4HeaderSize) return Invalid("short IPv4 header");
    split.ip_header = (packet[0] & 0x0f) * size_t{4};
    if (split.ip_header < kIpv4HeaderSize || split.ip_header > packet.size()) {
      return Invalid("IPv4 header length " + std::to_string(split.ip_header));
    }
    if (packet[9] != protocol)
      return Invalid("IPv4 protocol " + std::to_string(packet[9]));
    if (LoadBe16(&packet[2]) != packet.size()) {
      return Invalid("IPv4 total length disagrees with the packet's size");
    }
    // A fragment (MF or an offset) cannot be a TCP/UDP super-packet.
    if ((LoadBe16(&packet[6]) & 0x3fff) != 0) return Invalid("IPv4 fragment");
  }
  size_t transport_header = kUdpHeaderSize;
  if (split.tcp) {
    if (packet.size() < split.ip_header + kTcpHeaderSize)
      return Invalid("short TCP header");
    transport_header = (packet[split.ip_header + 12] >> 4) * size_t{4};
    if (transport_header < kTcpHeaderSize) {
      return Invalid("TCP data offset " + std::to_string(transport_header));
    }
  }
  split.headers = split.ip_header + transport_header;
  if (split.headers > packet.size())
    return Invalid("headers longer than the packet");
  if (header.flags & kVirtioNetHdrFNeedsCsum) {
    if (header.csum_start != split.ip_header ||
        header.csum_offset !=
            (split.tcp ? kTcpChecksumOffset : kUdpChecksumOffset)) {
      return Invalid("checksum request at " +
                     std::to_string(header.csum_start) + "+" +
                     std::to_string(header.csum_offset));
    }
  }
  split.segment_size = header.gso_size;
  split.payload = packet.size() - split.headers;
  split.segments =
      split.payload == 0
          ? 1
          : (split.payload + split.segment_size - 1) / split.segment_size;
  return split;
}

Result<size_t> WriteSegments(const GsoSplit& split, ByteSpan packet,
                             size_t first, std::span<TunPacket> out) {
  const size_t count = first >= split.segments
                           ? 0
                           : std::min(out.size(), split.segments - first);
  for (size_t k = 0; k < count; ++k) {
    if (split.SegmentLength(first + k) > out[k].buf.size()) {
      return MakeError(EMSGSIZE,
                       "TUN super-packet: segment of " +
                           std::to_string(split.SegmentLength(first + k)) +
                           " bytes exceeds a buffer of " +
                           std::to_string(out[k].buf.size()));
    }
  }
  const size_t ip = split.ip_header;
  const size_t last = split.segments - 1;
  for (size_t k = 0; k < count; ++k) {
    const size_t i = first + k;
    const size_t length = split.SegmentLength(i);
    uint8_t* s = out[k].buf.data();
    std::memcpy(s, packet.data(), split.headers);
    std::memcpy(s + split.headers,
                packet.data() + split.headers + i * split.segment_size,
                length - split.headers);
    if (split.ipv6) {
      StoreBe16(s + 4, static_cast<uint16_t>(length - kIpv6HeaderSize));
    } else {
      StoreBe16(s + 2, static_cast<uint16_t>(length));
      StoreBe16(s + 4, static_cast<uint16_t>(LoadBe16(s + 4) + i));
      StoreBe16(s + 10, 0);
      StoreBe16(s + 10, ChecksumFinish(ChecksumAdd(ByteSpan(s, ip))));
    }
    size_t checksum_field;
    if (split.tcp) {
      StoreBe32(s + ip + 4, static_cast<uint32_t>(LoadBe32(s + ip + 4) +
                                                  i * split.segment_size));
      uint8_t& flags = s[ip + kTcpFlagsOffset];
      if (i != last) flags &= static_cast<uint8_t>(~(kTcpFlagFin | kTcpFlagPsh));
      if (i != 0) flags &= static_cast<uint8_t>(~kTcpFlagCwr);
      checksum_field = ip + kTcpChecksumOffset;
    } else {
      StoreBe16(s + ip + 4, static_cast<uint16_t>(length - ip));
      checksum_field = ip + kUdpChecksumOffset;
    }
    StoreBe16(s + checksum_field, 0);
    StoreBe16(s + checksum_field,
              TransportChecksum(split, ByteSpan(s, length)));
    out[k].len = length;
  }
  return count;
}

Result<size_t> SegmentSuperPacket(const VirtioNetHdr& header, ByteSpan packet,
                                  std::span<TunPacket> out) {
  auto split = ParseSuperPacket(header, packet);
  if (!split.ok()) return split.error();
  return WriteSegments(*split, packet, 0, out);
}

}  // namespace zl::net
