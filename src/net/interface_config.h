#pragma once
// InterfaceConfigurator: sets an interface's MTU, adds and removes its
// addresses and the routes through it, IPv4 and IPv6. The seam the overlay
// daemon configures the tunnel interface through; zlayer-wg itself, like
// wireguard-go, configures no addresses.
//
// One configurator serves one interface, chosen when it is opened. Every
// error is errno-coded, and its message names the interface, what was asked
// (family and MTU, address, route) and the OS's error.
//
// Idempotence: adding an address or a route that already exists is Ok (the
// existing entry is kept as it is: an address present with another prefix
// length keeps that length; remove it first to change it). Removing one that
// is absent is ENOENT, which a caller tidying up may ignore.
//
// Implementations: ip_helper_win.h (Windows, IP Helper by interface LUID).
// None on Linux yet (net/netlink.h holds the netlink calls).
//
// Neutral header: no OS header, usable above net/. Thread safety: a
// configurator is used from one thread at a time; the Check* functions are
// pure.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "base/ip.h"
#include "base/result.h"

namespace zl::net {

// MTU bounds. IPv4: 576, the datagram size every IPv4 host must accept
// (RFC 791; Windows' smallest NlMtu). IPv6: 1280, the minimum link MTU
// (RFC 8200 section 5). Both: 65535, the largest IP packet.
inline constexpr uint32_t kMinIpv4Mtu = 576;
inline constexpr uint32_t kMinIpv6Mtu = 1280;
inline constexpr uint32_t kMaxIpMtu = 65535;

// A route through the interface. Without a next hop (or with the unspecified
// address) the destination is on-link: reached directly over the interface,
// as every overlay peer is. `metric` is added to the interface's own metric
// by Windows (the route's metric offset). A route is identified by its
// destination and next hop; the metric is not part of that key.
struct Route {
  Cidr destination;
  std::optional<IpAddress> next_hop;
  uint32_t metric = 0;
};

class InterfaceConfigurator {
 public:
  virtual ~InterfaceConfigurator() = default;

  // Sets the MTU of one family's IP interface. EINVAL outside the family's
  // bounds above.
  virtual Result<void> SetMtu(IpAddress::Family family, uint32_t mtu) = 0;

  // `address` is the interface's own address with the prefix length of its
  // on-link network ("10.8.0.2/24"). EINVAL for an unspecified or multicast
  // address.
  virtual Result<void> AddAddress(const Cidr& address) = 0;
  virtual Result<void> RemoveAddress(const Cidr& address) = 0;

  // The destination's host bits are cleared ("10.8.0.7/24" is 10.8.0.0/24).
  // EINVAL when the next hop's family is not the destination's.
  virtual Result<void> AddRoute(const Route& route) = 0;
  virtual Result<void> RemoveRoute(const Route& route) = 0;
};

// The checks every implementation makes before asking the OS; each error
// says what was wrong with which value.
Result<void> CheckMtu(IpAddress::Family family, uint32_t mtu);
Result<void> CheckInterfaceAddress(const Cidr& address);
Result<void> CheckRoute(const Route& route);

// "IPv4" or "IPv6", for messages.
std::string_view FamilyName(IpAddress::Family family);

#ifdef _WIN32
// Windows only for now: the interface whose alias (the name shown by
// `netsh interface show interface`, a Wintun adapter's name) is
// `interface_name`, configured through IP Helper. ENODEV when there is no
// such interface, EINVAL for an empty name.
Result<std::unique_ptr<InterfaceConfigurator>> OpenInterfaceConfigurator(
    std::string_view interface_name);
// The interface whose LUID (NET_LUID's Value, e.g. WintunAdapter::luid()) is
// `luid`, without a lookup; `interface_name` is only for messages.
std::unique_ptr<InterfaceConfigurator> InterfaceConfiguratorForLuid(uint64_t luid,
                                                                    std::string_view interface_name);
#endif

}  // namespace zl::net
