#include "net/interface_config.h"

#include <fmt/format.h>

namespace zl::net {
namespace {

Result<void> CheckPrefixLength(const Cidr& cidr) {
  if (cidr.prefix_len() > cidr.address().size() * 8) {
    return MakeError(EINVAL, fmt::format("{}: prefix length longer than the address",
                                         cidr.ToString()));
  }
  return Ok();
}

bool IsMulticast(const IpAddress& ip) {
  const uint8_t first = ip.bytes()[0];
  return ip.is_v4() ? (first & 0xF0) == 0xE0  // 224.0.0.0/4
                    : first == 0xFF;          // ff00::/8
}

}  // namespace

std::string_view FamilyName(IpAddress::Family family) {
  return family == IpAddress::Family::kV4 ? "IPv4" : "IPv6";
}

Result<void> CheckMtu(IpAddress::Family family, uint32_t mtu) {
  const uint32_t min = family == IpAddress::Family::kV4 ? kMinIpv4Mtu : kMinIpv6Mtu;
  if (mtu < min || mtu > kMaxIpMtu) {
    return MakeError(EINVAL, fmt::format("{} MTU {} is outside {}..{}", FamilyName(family), mtu,
                                         min, kMaxIpMtu));
  }
  return Ok();
}

Result<void> CheckInterfaceAddress(const Cidr& address) {
  ZL_RETURN_IF_ERROR(CheckPrefixLength(address));
  const IpAddress& ip = address.address();
  if (ip.IsUnspecified() || IsMulticast(ip)) {
    return MakeError(EINVAL, fmt::format("{} is not a unicast address for an interface",
                                         address.ToString()));
  }
  return Ok();
}

Result<void> CheckRoute(const Route& route) {
  ZL_RETURN_IF_ERROR(CheckPrefixLength(route.destination));
  if (route.next_hop && route.next_hop->family() != route.destination.address().family()) {
    return MakeError(EINVAL, fmt::format("route to {}: next hop {} is not {}",
                                         route.destination.ToString(),
                                         route.next_hop->ToString(),
                                         FamilyName(route.destination.address().family())));
  }
  return Ok();
}

}  // namespace zl::net
