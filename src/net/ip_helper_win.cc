#include "net/ip_helper_win.h"

#include <fmt/format.h>

#include <cstring>

#include "net/win32_error_win.h"
#include "net/win_text_win.h"

namespace zl::net {
namespace {

// Lifetimes in seconds; all ones is "infinite" (MIB_UNICASTIPADDRESS_ROW,
// MIB_IPFORWARD_ROW2).
constexpr ULONG kInfiniteLifetime = 0xFFFFFFFF;

ADDRESS_FAMILY ToAddressFamily(IpAddress::Family family) {
  return family == IpAddress::Family::kV4 ? AF_INET : AF_INET6;
}

IpAddress Unspecified(IpAddress::Family family) {
  static constexpr uint8_t kZero[16] = {};
  return family == IpAddress::Family::kV4 ? IpAddress::V4(kZero) : IpAddress::V6(kZero);
}

std::string Describe(const Route& route) {
  std::string text = route.destination.Masked().ToString();
  if (route.next_hop && !route.next_hop->IsUnspecified()) {
    text += " via " + route.next_hop->ToString();
  } else {
    text += " on-link";
  }
  return text;
}

}  // namespace

SOCKADDR_INET ToSockaddrInet(const IpAddress& ip) {
  SOCKADDR_INET out;
  std::memset(&out, 0, sizeof(out));
  if (ip.is_v4()) {
    out.Ipv4.sin_family = AF_INET;
    std::memcpy(&out.Ipv4.sin_addr, ip.bytes().data(), 4);
  } else {
    out.Ipv6.sin6_family = AF_INET6;
    std::memcpy(&out.Ipv6.sin6_addr, ip.bytes().data(), 16);
  }
  return out;
}

IpHelperFunctions IpHelperFunctions::System() {
  IpHelperFunctions f;
  f.initialize_ip_interface_entry = &::InitializeIpInterfaceEntry;
  f.get_ip_interface_entry = &::GetIpInterfaceEntry;
  f.set_ip_interface_entry = &::SetIpInterfaceEntry;
  f.initialize_unicast_ip_address_entry = &::InitializeUnicastIpAddressEntry;
  f.create_unicast_ip_address_entry = &::CreateUnicastIpAddressEntry;
  f.delete_unicast_ip_address_entry = &::DeleteUnicastIpAddressEntry;
  f.initialize_ip_forward_entry = &::InitializeIpForwardEntry;
  f.create_ip_forward_entry2 = &::CreateIpForwardEntry2;
  f.delete_ip_forward_entry2 = &::DeleteIpForwardEntry2;
  f.convert_interface_alias_to_luid = &::ConvertInterfaceAliasToLuid;
  return f;
}

Result<std::unique_ptr<IpHelperConfigurator>> IpHelperConfigurator::Open(
    std::string_view interface_name, const IpHelperFunctions& functions) {
  if (interface_name.empty()) return MakeError(EINVAL, "an interface name must not be empty");
  const std::wstring alias = WideFromUtf8(interface_name);
  NET_LUID luid{};
  const DWORD status = functions.convert_interface_alias_to_luid(alias.c_str(), &luid);
  if (status == ERROR_INVALID_PARAMETER) {
    // What ConvertInterfaceAliasToLuid answers for an alias no interface has.
    return MakeError(ENODEV, fmt::format("no network interface named {}", interface_name));
  }
  if (status != NO_ERROR) {
    return Win32Error(status, fmt::format("interface {}: ConvertInterfaceAliasToLuid", interface_name));
  }
  return std::make_unique<IpHelperConfigurator>(luid.Value, std::string(interface_name), functions);
}

Error IpHelperConfigurator::CallError(DWORD code, std::string_view doing, std::string_view call) const {
  return Win32Error(code, fmt::format("interface {}: {}: {}", name_, doing, call));
}

Result<void> IpHelperConfigurator::SetMtu(IpAddress::Family family, uint32_t mtu) {
  ZL_RETURN_IF_ERROR(CheckMtu(family, mtu));
  const std::string doing = fmt::format("setting the {} MTU to {}", FamilyName(family), mtu);
  MIB_IPINTERFACE_ROW row;
  fn_.initialize_ip_interface_entry(&row);
  row.Family = ToAddressFamily(family);
  row.InterfaceLuid.Value = luid_;
  if (const DWORD status = fn_.get_ip_interface_entry(&row); status != NO_ERROR) {
    return CallError(status, doing, "GetIpInterfaceEntry");
  }
  row.NlMtu = mtu;
  // Site prefixes are IPv6's: Get reports one for IPv4 too, which Set refuses.
  if (family == IpAddress::Family::kV4) row.SitePrefixLength = 0;
  if (const DWORD status = fn_.set_ip_interface_entry(&row); status != NO_ERROR) {
    return CallError(status, doing, "SetIpInterfaceEntry");
  }
  return Ok();
}

MIB_UNICASTIPADDRESS_ROW IpHelperConfigurator::AddressRow(const Cidr& address) const {
  MIB_UNICASTIPADDRESS_ROW row;
  fn_.initialize_unicast_ip_address_entry(&row);
  row.InterfaceLuid.Value = luid_;
  row.Address = ToSockaddrInet(address.address());
  row.OnLinkPrefixLength = address.prefix_len();
  return row;
}

Result<void> IpHelperConfigurator::AddAddress(const Cidr& address) {
  ZL_RETURN_IF_ERROR(CheckInterfaceAddress(address));
  MIB_UNICASTIPADDRESS_ROW row = AddressRow(address);
  // A tunnel has no neighbours to detect a duplicate with: usable at once.
  row.DadState = IpDadStatePreferred;
  row.ValidLifetime = kInfiniteLifetime;
  row.PreferredLifetime = kInfiniteLifetime;
  const DWORD status = fn_.create_unicast_ip_address_entry(&row);
  if (status == NO_ERROR || status == ERROR_OBJECT_ALREADY_EXISTS) return Ok();
  return CallError(status, "adding address " + address.ToString(), "CreateUnicastIpAddressEntry");
}

Result<void> IpHelperConfigurator::RemoveAddress(const Cidr& address) {
  ZL_RETURN_IF_ERROR(CheckInterfaceAddress(address));
  const MIB_UNICASTIPADDRESS_ROW row = AddressRow(address);
  const DWORD status = fn_.delete_unicast_ip_address_entry(&row);
  if (status == NO_ERROR) return Ok();
  return CallError(status, "removing address " + address.ToString(), "DeleteUnicastIpAddressEntry");
}

MIB_IPFORWARD_ROW2 IpHelperConfigurator::RouteRow(const Route& route) const {
  const Cidr destination = route.destination.Masked();
  const IpAddress::Family family = destination.address().family();
  MIB_IPFORWARD_ROW2 row;
  fn_.initialize_ip_forward_entry(&row);
  row.InterfaceLuid.Value = luid_;
  row.DestinationPrefix.Prefix = ToSockaddrInet(destination.address());
  row.DestinationPrefix.PrefixLength = destination.prefix_len();
  // On-link: the unspecified address, of the destination's family.
  row.NextHop = ToSockaddrInet(route.next_hop.value_or(Unspecified(family)));
  return row;
}

Result<void> IpHelperConfigurator::AddRoute(const Route& route) {
  ZL_RETURN_IF_ERROR(CheckRoute(route));
  MIB_IPFORWARD_ROW2 row = RouteRow(route);
  row.Metric = route.metric;
  row.Protocol = RouteProtocolNetMgmt;  // MIB_IPPROTO_NETMGMT: a static route
  row.ValidLifetime = kInfiniteLifetime;
  row.PreferredLifetime = kInfiniteLifetime;
  const DWORD status = fn_.create_ip_forward_entry2(&row);
  if (status == NO_ERROR || status == ERROR_OBJECT_ALREADY_EXISTS) return Ok();
  return CallError(status, fmt::format("adding route {} metric {}", Describe(route), route.metric),
                   "CreateIpForwardEntry2");
}

Result<void> IpHelperConfigurator::RemoveRoute(const Route& route) {
  ZL_RETURN_IF_ERROR(CheckRoute(route));
  const MIB_IPFORWARD_ROW2 row = RouteRow(route);
  const DWORD status = fn_.delete_ip_forward_entry2(&row);
  if (status == NO_ERROR) return Ok();
  return CallError(status, "removing route " + Describe(route), "DeleteIpForwardEntry2");
}

Result<std::unique_ptr<InterfaceConfigurator>> OpenInterfaceConfigurator(std::string_view interface_name) {
  auto configurator = IpHelperConfigurator::Open(interface_name, IpHelperFunctions::System());
  if (!configurator.ok()) return configurator.error();
  return std::unique_ptr<InterfaceConfigurator>(std::move(*configurator));
}

std::unique_ptr<InterfaceConfigurator> InterfaceConfiguratorForLuid(uint64_t luid,
                                                                    std::string_view interface_name) {
  return std::make_unique<IpHelperConfigurator>(luid, std::string(interface_name), IpHelperFunctions::System());
}

}  // namespace zl::net
