#pragma once
// IpHelperConfigurator: InterfaceConfigurator on Windows, through IP Helper
// (iphlpapi) by interface LUID.
//
//   SetMtu       InitializeIpInterfaceEntry, GetIpInterfaceEntry (the current
//                row: SetIpInterfaceEntry writes every field), NlMtu, then
//                SetIpInterfaceEntry. For IPv4, SitePrefixLength is cleared
//                first: Get reports a value Set refuses with
//                ERROR_INVALID_PARAMETER (site prefixes are IPv6 only; known
//                from practice, not from Microsoft's pages, and what
//                wireguard-windows does too).
//   AddAddress   InitializeUnicastIpAddressEntry (origins "unchanged", the
//                documented pair), Address, OnLinkPrefixLength, DadState
//                preferred (no duplicate address detection on a tunnel),
//                infinite lifetimes, then CreateUnicastIpAddressEntry.
//   AddRoute     InitializeIpForwardEntry, DestinationPrefix (host bits
//                cleared), NextHop (the gateway, or the unspecified address
//                of the destination's family when on-link), Metric,
//                Protocol MIB_IPPROTO_NETMGMT (a static route), infinite
//                lifetimes, then CreateIpForwardEntry2.
//   Remove*      the same key fields, then DeleteUnicastIpAddressEntry /
//                DeleteIpForwardEntry2.
// ERROR_OBJECT_ALREADY_EXISTS from a Create* is success (interface_config.h,
// "Idempotence"); ERROR_NOT_FOUND from a Delete* is ENOENT. Every other code
// is an Error (win32_error_win.h) naming the interface, the operation, the
// address or route and the code. Argument checks (CheckMtu, ...) come before
// any call.
//
// The IP Helper functions come in an IpHelperFunctions table, so tests run the
// logic above against fakes (wine 8.0 aborts the process in the real
// Initialize*/Create*/Set* functions); System() is the real iphlpapi.
//
// Windows-only (net/ *_win files). Thread safety: as InterfaceConfigurator;
// the table is copied and immutable.

#include <winsock2.h>  // before windows.h and iphlpapi.h (see wintun_api_win.h)
#include <windows.h>
#include <ws2ipdef.h>
#include <iphlpapi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"
#include "net/interface_config.h"

namespace zl::net {

// The IP Helper functions the configurator calls, with iphlpapi's signatures
// (NETIO_STATUS is a Win32 error code when iphlpapi.h is included).
struct IpHelperFunctions {
  VOID(WINAPI* initialize_ip_interface_entry)(MIB_IPINTERFACE_ROW* row) = nullptr;
  DWORD(WINAPI* get_ip_interface_entry)(MIB_IPINTERFACE_ROW* row) = nullptr;
  DWORD(WINAPI* set_ip_interface_entry)(MIB_IPINTERFACE_ROW* row) = nullptr;
  VOID(WINAPI* initialize_unicast_ip_address_entry)(MIB_UNICASTIPADDRESS_ROW* row) = nullptr;
  DWORD(WINAPI* create_unicast_ip_address_entry)(const MIB_UNICASTIPADDRESS_ROW* row) = nullptr;
  DWORD(WINAPI* delete_unicast_ip_address_entry)(const MIB_UNICASTIPADDRESS_ROW* row) = nullptr;
  VOID(WINAPI* initialize_ip_forward_entry)(MIB_IPFORWARD_ROW2* row) = nullptr;
  DWORD(WINAPI* create_ip_forward_entry2)(const MIB_IPFORWARD_ROW2* row) = nullptr;
  DWORD(WINAPI* delete_ip_forward_entry2)(const MIB_IPFORWARD_ROW2* row) = nullptr;
  DWORD(WINAPI* convert_interface_alias_to_luid)(const WCHAR* alias, NET_LUID* luid) = nullptr;

  // iphlpapi's own functions.
  static IpHelperFunctions System();
};

class IpHelperConfigurator final : public InterfaceConfigurator {
 public:
  // The interface whose alias is `interface_name` (ConvertInterfaceAliasToLuid;
  // no other function is called). EINVAL for an empty name, ENODEV when no
  // interface has it.
  static Result<std::unique_ptr<IpHelperConfigurator>> Open(std::string_view interface_name,
                                                            const IpHelperFunctions& functions);

  // `interface_name` is only for messages.
  IpHelperConfigurator(uint64_t luid, std::string interface_name, const IpHelperFunctions& functions)
      : luid_(luid), name_(std::move(interface_name)), fn_(functions) {}

  uint64_t luid() const { return luid_; }
  const std::string& interface_name() const { return name_; }

  Result<void> SetMtu(IpAddress::Family family, uint32_t mtu) override;
  Result<void> AddAddress(const Cidr& address) override;
  Result<void> RemoveAddress(const Cidr& address) override;
  Result<void> AddRoute(const Route& route) override;
  Result<void> RemoveRoute(const Route& route) override;

 private:
  MIB_UNICASTIPADDRESS_ROW AddressRow(const Cidr& address) const;
  MIB_IPFORWARD_ROW2 RouteRow(const Route& route) const;
  // Win32Error(code, "interface NAME: <doing>: <call>").
  Error CallError(DWORD code, std::string_view doing, std::string_view call) const;

  uint64_t luid_;
  std::string name_;
  IpHelperFunctions fn_;
};

// `ip` as a SOCKADDR_INET (family and address; port, flow info and scope 0).
SOCKADDR_INET ToSockaddrInet(const IpAddress& ip);

}  // namespace zl::net
