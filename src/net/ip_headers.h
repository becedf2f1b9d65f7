#pragma once
// Field sizes, offsets and flags of the IPv4, IPv6, TCP and UDP headers that
// the offload code (tun_segment, tun_coalesce) reads and rewrites. Facts from
// the RFCs named; nothing to link.

#include <cstddef>
#include <cstdint>

namespace zl::net {

inline constexpr uint8_t kProtoTcp = 6;  // IANA protocol numbers
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpV6 = 58;

inline constexpr size_t kIpv4HeaderSize = 20;  // RFC 791, no options
inline constexpr size_t kIpv6HeaderSize = 40;  // RFC 8200
inline constexpr size_t kTcpHeaderSize = 20;   // RFC 9293, no options
inline constexpr size_t kUdpHeaderSize = 8;    // RFC 768
inline constexpr uint32_t kMaxIpLength = 65535;

inline constexpr size_t kTcpFlagsOffset = 13;
inline constexpr size_t kTcpChecksumOffset = 16;
inline constexpr size_t kUdpChecksumOffset = 6;

inline constexpr uint8_t kTcpFlagFin = 0x01;
inline constexpr uint8_t kTcpFlagPsh = 0x08;
inline constexpr uint8_t kTcpFlagAck = 0x10;
inline constexpr uint8_t kTcpFlagCwr = 0x80;

}  // namespace zl::net
