#include "wg/packet.h"

namespace zl::wg {
namespace {

// RFC 791 §3.1 and RFC 8200 §3 field offsets.
constexpr size_t kIpv4TotalLengthOffset = 2;
constexpr size_t kIpv4SourceOffset = 12;
constexpr size_t kIpv4DestinationOffset = 16;
constexpr size_t kIpv6PayloadLengthOffset = 4;
constexpr size_t kIpv6SourceOffset = 8;
constexpr size_t kIpv6DestinationOffset = 24;

}  // namespace

bool InspectIpPacket(ByteSpan packet, IpPacketInfo& out) {
  if (packet.empty()) return false;
  const uint8_t* p = packet.data();
  switch (p[0] >> 4) {
    case 4: {
      if (packet.size() < kIpv4HeaderSize) return false;
      const size_t length = LoadBe16(p + kIpv4TotalLengthOffset);
      if (length < kIpv4HeaderSize || length > packet.size()) return false;
      out.family = IpAddress::Family::kV4;
      out.length = length;
      out.source = p + kIpv4SourceOffset;
      out.destination = p + kIpv4DestinationOffset;
      return true;
    }
    case 6: {
      if (packet.size() < kIpv6HeaderSize) return false;
      const size_t length =
          kIpv6HeaderSize + LoadBe16(p + kIpv6PayloadLengthOffset);
      if (length > packet.size()) return false;
      out.family = IpAddress::Family::kV6;
      out.length = length;
      out.source = p + kIpv6SourceOffset;
      out.destination = p + kIpv6DestinationOffset;
      return true;
    }
    default:
      return false;
  }
}

}  // namespace zl::wg
