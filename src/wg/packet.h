#pragma once
// Inspection of the plain IP packets the engine carries (whitepaper §2: the
// cryptokey routing table is consulted with the destination address of an
// outgoing packet and the source address of an incoming one).
//
// Only what routing needs is read: the version, the length the header claims,
// and where the source and destination addresses are. Fields are read with
// explicit big-endian loads; nothing is cast onto the buffer.
//
// Thread safety: pure functions.

#include <cstddef>
#include <cstdint>

#include "base/bytes.h"
#include "base/ip.h"

namespace zl::wg {

inline constexpr size_t kIpv4HeaderSize = 20;  // RFC 791 §3.1, without options
inline constexpr size_t kIpv6HeaderSize = 40;  // RFC 8200 §3

struct IpPacketInfo {
  IpAddress::Family family = IpAddress::Family::kV4;
  // The packet's length as its header states it (IPv4 total length; IPv6
  // 40 + payload length). Never more than the buffer inspected.
  size_t length = 0;
  // Network-order addresses inside the inspected buffer (4 or 16 bytes).
  const uint8_t* source = nullptr;
  const uint8_t* destination = nullptr;
};

// True when `packet` begins with an IPv4 or IPv6 header whose stated length
// is at least the header size and fits in `packet` (bytes past it are padding,
// as after decryption). The checks are the kernel's and wireguard-go's.
bool InspectIpPacket(ByteSpan packet, IpPacketInfo& out);

}  // namespace zl::wg
