#include "net/ip_helper_win.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "net/win_text_win.h"

// IpHelperConfigurator against a fake IP Helper that records the rows it
// receives and answers with chosen codes. The real Initialize*/Create*/Set*
// functions abort the process under wine 8.0, so only the alias lookup (and
// GetIfTable2, to find a real alias) runs for real, in IpHelperSystemTest.

namespace zl::net {
namespace {

constexpr uint64_t kLuid = 0x0000'4700'0001'2345;
constexpr ULONG kInfinite = 0xFFFFFFFF;

// What the fake Initialize* functions leave in fields the API leaves
// "unspecified" or "invalid", and what the fake GetIpInterfaceEntry reports:
// values no test sets, so a row that still holds them was not filled by us.
constexpr uint64_t kInitialLuid = 0xDEAD'BEEF;
constexpr ULONG kCurrentMtu = 1500;
constexpr ULONG kCurrentSitePrefixLength = 64;
constexpr ULONG kCurrentMetric = 25;
constexpr NET_IFINDEX kCurrentIndex = 7;

struct FakeIpHelper {
  std::vector<std::string> calls;
  DWORD get_interface_status = NO_ERROR;
  DWORD set_interface_status = NO_ERROR;
  DWORD create_address_status = NO_ERROR;
  DWORD delete_address_status = NO_ERROR;
  DWORD create_route_status = NO_ERROR;
  DWORD delete_route_status = NO_ERROR;
  DWORD convert_status = NO_ERROR;
  uint64_t converted_luid = 0;

  MIB_IPINTERFACE_ROW get_interface_input{};
  MIB_IPINTERFACE_ROW set_interface_row{};
  MIB_UNICASTIPADDRESS_ROW address_row{};
  MIB_IPFORWARD_ROW2 route_row{};
  std::wstring alias;
};

FakeIpHelper* g_fake = nullptr;

// The documented defaults of the Initialize* functions (netioapi.h).
VOID WINAPI FakeInitializeIpInterfaceEntry(MIB_IPINTERFACE_ROW* row) {
  g_fake->calls.push_back("InitializeIpInterfaceEntry");
  std::memset(row, 0, sizeof(*row));
  row->Family = AF_UNSPEC;
  row->InterfaceLuid.Value = kInitialLuid;  // "an unspecified value"
}

DWORD WINAPI FakeGetIpInterfaceEntry(MIB_IPINTERFACE_ROW* row) {
  g_fake->calls.push_back("GetIpInterfaceEntry");
  g_fake->get_interface_input = *row;
  if (g_fake->get_interface_status != NO_ERROR) return g_fake->get_interface_status;
  // The interface's current settings, keyed by Family and InterfaceLuid.
  row->InterfaceIndex = kCurrentIndex;
  row->NlMtu = kCurrentMtu;
  row->SitePrefixLength = kCurrentSitePrefixLength;  // reported for IPv4 too
  row->Metric = kCurrentMetric;
  row->UseAutomaticMetric = TRUE;
  row->RouterDiscoveryBehavior = RouterDiscoveryDisabled;
  return NO_ERROR;
}

DWORD WINAPI FakeSetIpInterfaceEntry(MIB_IPINTERFACE_ROW* row) {
  g_fake->calls.push_back("SetIpInterfaceEntry");
  g_fake->set_interface_row = *row;
  return g_fake->set_interface_status;
}

VOID WINAPI FakeInitializeUnicastIpAddressEntry(MIB_UNICASTIPADDRESS_ROW* row) {
  g_fake->calls.push_back("InitializeUnicastIpAddressEntry");
  std::memset(row, 0, sizeof(*row));
  row->PrefixOrigin = IpPrefixOriginUnchanged;
  row->SuffixOrigin = IpSuffixOriginUnchanged;
  row->OnLinkPrefixLength = 0xFF;  // "an illegal value"
  row->ValidLifetime = kInfinite;
  row->PreferredLifetime = kInfinite;
  row->SkipAsSource = FALSE;
  row->InterfaceLuid.Value = kInitialLuid;
}

DWORD WINAPI FakeCreateUnicastIpAddressEntry(const MIB_UNICASTIPADDRESS_ROW* row) {
  g_fake->calls.push_back("CreateUnicastIpAddressEntry");
  g_fake->address_row = *row;
  return g_fake->create_address_status;
}

DWORD WINAPI FakeDeleteUnicastIpAddressEntry(const MIB_UNICASTIPADDRESS_ROW* row) {
  g_fake->calls.push_back("DeleteUnicastIpAddressEntry");
  g_fake->address_row = *row;
  return g_fake->delete_address_status;
}

VOID WINAPI FakeInitializeIpForwardEntry(MIB_IPFORWARD_ROW2* row) {
  g_fake->calls.push_back("InitializeIpForwardEntry");
  std::memset(row, 0, sizeof(*row));
  row->ValidLifetime = kInfinite;
  row->PreferredLifetime = kInfinite;
  row->Loopback = TRUE;
  row->AutoconfigureAddress = TRUE;
  row->Publish = TRUE;
  row->Immortal = TRUE;
  // "Invalid values".
  row->SitePrefixLength = 0xFF;
  row->Metric = 0xFFFFFFFF;
  row->Protocol = static_cast<NL_ROUTE_PROTOCOL>(0);
  row->InterfaceLuid.Value = kInitialLuid;
}

DWORD WINAPI FakeCreateIpForwardEntry2(const MIB_IPFORWARD_ROW2* row) {
  g_fake->calls.push_back("CreateIpForwardEntry2");
  g_fake->route_row = *row;
  return g_fake->create_route_status;
}

DWORD WINAPI FakeDeleteIpForwardEntry2(const MIB_IPFORWARD_ROW2* row) {
  g_fake->calls.push_back("DeleteIpForwardEntry2");
  g_fake->route_row = *row;
  return g_fake->delete_route_status;
}

DWORD WINAPI FakeConvertInterfaceAliasToLuid(const WCHAR* alias, NET_LUID* luid) {
  g_fake->calls.push_back("ConvertInterfaceAliasToLuid");
  g_fake->alias = alias;
  if (g_fake->convert_status == NO_ERROR) luid->Value = g_fake->converted_luid;
  return g_fake->convert_status;
}

IpHelperFunctions FakeFunctions() {
  IpHelperFunctions f;
  f.initialize_ip_interface_entry = &FakeInitializeIpInterfaceEntry;
  f.get_ip_interface_entry = &FakeGetIpInterfaceEntry;
  f.set_ip_interface_entry = &FakeSetIpInterfaceEntry;
  f.initialize_unicast_ip_address_entry = &FakeInitializeUnicastIpAddressEntry;
  f.create_unicast_ip_address_entry = &FakeCreateUnicastIpAddressEntry;
  f.delete_unicast_ip_address_entry = &FakeDeleteUnicastIpAddressEntry;
  f.initialize_ip_forward_entry = &FakeInitializeIpForwardEntry;
  f.create_ip_forward_entry2 = &FakeCreateIpForwardEntry2;
  f.delete_ip_forward_entry2 = &FakeDeleteIpForwardEntry2;
  f.convert_interface_alias_to_luid = &FakeConvertInterfaceAliasToLuid;
  return f;
}

Cidr ParseCidr(const char* text) { return Cidr::Parse(text).value(); }
IpAddress ParseIp(const char* text) { return IpAddress::Parse(text).value(); }

// The family and address a SOCKADDR_INET holds, as text ("AF_INET 10.8.0.2").
std::string Show(const SOCKADDR_INET& sa) {
  if (sa.si_family == AF_INET) {
    uint8_t b[4];
    std::memcpy(b, &sa.Ipv4.sin_addr, 4);
    return "AF_INET " + IpAddress::V4(b).ToString();
  }
  if (sa.si_family == AF_INET6) {
    uint8_t b[16];
    std::memcpy(b, &sa.Ipv6.sin6_addr, 16);
    return "AF_INET6 " + IpAddress::V6(b).ToString();
  }
  return "family " + std::to_string(sa.si_family);
}

void ExpectNoPortScopeOrFlow(const SOCKADDR_INET& sa) {
  if (sa.si_family == AF_INET) {
    EXPECT_EQ(sa.Ipv4.sin_port, 0);
  } else {
    EXPECT_EQ(sa.Ipv6.sin6_port, 0);
    EXPECT_EQ(sa.Ipv6.sin6_flowinfo, 0u);
    EXPECT_EQ(sa.Ipv6.sin6_scope_id, 0u);
  }
}

void ExpectMentions(const Error& error, std::initializer_list<std::string_view> parts) {
  for (std::string_view part : parts) {
    EXPECT_NE(error.message().find(part), std::string::npos)
        << "\"" << part << "\" missing from: " << error.message();
  }
}

class IpHelperConfiguratorTest : public testing::Test {
 protected:
  void SetUp() override { g_fake = &fake_; }
  void TearDown() override { g_fake = nullptr; }

  using Calls = std::vector<std::string>;

  FakeIpHelper fake_;
  IpHelperConfigurator config_{kLuid, "zl0", FakeFunctions()};
};

// --- MTU -------------------------------------------------------------------

TEST_F(IpHelperConfiguratorTest, SetMtuIpv4ReadsTheRowAndWritesItBackWithNlMtuAndNoSitePrefix) {
  ASSERT_TRUE(config_.SetMtu(IpAddress::Family::kV4, 1420).ok());
  EXPECT_EQ(fake_.calls, (Calls{"InitializeIpInterfaceEntry", "GetIpInterfaceEntry", "SetIpInterfaceEntry"}));
  // Get is keyed by family and LUID.
  EXPECT_EQ(fake_.get_interface_input.Family, AF_INET);
  EXPECT_EQ(fake_.get_interface_input.InterfaceLuid.Value, kLuid);
  const MIB_IPINTERFACE_ROW& row = fake_.set_interface_row;
  EXPECT_EQ(row.Family, AF_INET);
  EXPECT_EQ(row.InterfaceLuid.Value, kLuid);
  EXPECT_EQ(row.NlMtu, 1420u);
  EXPECT_EQ(row.SitePrefixLength, 0u);  // SetIpInterfaceEntry refuses Get's value for IPv4
  // Everything else is the interface's current setting, unchanged.
  EXPECT_EQ(row.InterfaceIndex, kCurrentIndex);
  EXPECT_EQ(row.Metric, kCurrentMetric);
  EXPECT_EQ(row.UseAutomaticMetric, TRUE);
}

TEST_F(IpHelperConfiguratorTest, SetMtuIpv6KeepsTheSitePrefixLength) {
  ASSERT_TRUE(config_.SetMtu(IpAddress::Family::kV6, 1280).ok());
  EXPECT_EQ(fake_.get_interface_input.Family, AF_INET6);
  const MIB_IPINTERFACE_ROW& row = fake_.set_interface_row;
  EXPECT_EQ(row.Family, AF_INET6);
  EXPECT_EQ(row.InterfaceLuid.Value, kLuid);
  EXPECT_EQ(row.NlMtu, 1280u);
  EXPECT_EQ(row.SitePrefixLength, kCurrentSitePrefixLength);
  EXPECT_EQ(row.Metric, kCurrentMetric);
}

TEST_F(IpHelperConfiguratorTest, SetMtuOutOfRangeIsEinvalBeforeAnyCall) {
  const std::pair<IpAddress::Family, uint32_t> cases[] = {
      {IpAddress::Family::kV4, 575}, {IpAddress::Family::kV4, 65536},
      {IpAddress::Family::kV6, 1279}, {IpAddress::Family::kV6, 65536}};
  for (const auto& [family, mtu] : cases) {
    SCOPED_TRACE(mtu);
    const Result<void> result = config_.SetMtu(family, mtu);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code(), EINVAL);
  }
  EXPECT_TRUE(fake_.calls.empty());
}

TEST_F(IpHelperConfiguratorTest, SetMtuReportsAFailedReadAndDoesNotWrite) {
  fake_.get_interface_status = ERROR_NOT_FOUND;  // e.g. IPv6 disabled on the interface
  const Result<void> result = config_.SetMtu(IpAddress::Family::kV6, 1420);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ENOENT);
  ExpectMentions(result.error(), {"interface zl0", "IPv6 MTU to 1420", "GetIpInterfaceEntry", "Win32 error 1168"});
  EXPECT_EQ(fake_.calls, (Calls{"InitializeIpInterfaceEntry", "GetIpInterfaceEntry"}));
}

TEST_F(IpHelperConfiguratorTest, SetMtuReportsAFailedWrite) {
  fake_.set_interface_status = ERROR_ACCESS_DENIED;
  const Result<void> result = config_.SetMtu(IpAddress::Family::kV4, 1420);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), EACCES);
  ExpectMentions(result.error(), {"interface zl0", "IPv4 MTU to 1420", "SetIpInterfaceEntry", "Win32 error 5"});
}

// --- addresses ---------------------------------------------------------------

TEST_F(IpHelperConfiguratorTest, AddAddressFillsTheRowForEachFamily) {
  const struct {
    const char* cidr;
    const char* sockaddr;
    uint8_t prefix;
  } cases[] = {{"10.8.0.2/24", "AF_INET 10.8.0.2", 24},
               {"192.0.2.9/32", "AF_INET 192.0.2.9", 32},
               {"fd00:8::2/64", "AF_INET6 fd00:8::2", 64},
               {"2001:db8::1/128", "AF_INET6 2001:db8::1", 128}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.cidr);
    fake_.calls.clear();
    ASSERT_TRUE(config_.AddAddress(ParseCidr(c.cidr)).ok());
    EXPECT_EQ(fake_.calls, (Calls{"InitializeUnicastIpAddressEntry", "CreateUnicastIpAddressEntry"}));
    const MIB_UNICASTIPADDRESS_ROW& row = fake_.address_row;
    EXPECT_EQ(Show(row.Address), c.sockaddr);
    ExpectNoPortScopeOrFlow(row.Address);
    EXPECT_EQ(row.OnLinkPrefixLength, c.prefix);
    EXPECT_EQ(row.InterfaceLuid.Value, kLuid);
    EXPECT_EQ(row.InterfaceIndex, 0u);  // the LUID decides
    EXPECT_EQ(row.DadState, IpDadStatePreferred);
    EXPECT_EQ(row.ValidLifetime, kInfinite);
    EXPECT_EQ(row.PreferredLifetime, kInfinite);
    // Initialize's documented pair, which Create accepts.
    EXPECT_EQ(row.PrefixOrigin, IpPrefixOriginUnchanged);
    EXPECT_EQ(row.SuffixOrigin, IpSuffixOriginUnchanged);
    EXPECT_EQ(row.SkipAsSource, FALSE);
  }
}

TEST_F(IpHelperConfiguratorTest, AddingAnAddressThatExistsIsOk) {
  fake_.create_address_status = ERROR_OBJECT_ALREADY_EXISTS;
  EXPECT_TRUE(config_.AddAddress(ParseCidr("10.8.0.2/24")).ok());
  EXPECT_TRUE(config_.AddAddress(ParseCidr("fd00:8::2/64")).ok());
}

TEST_F(IpHelperConfiguratorTest, AddAddressReportsAnotherErrorWithTheAddressAndCode) {
  fake_.create_address_status = ERROR_INVALID_PARAMETER;
  const Result<void> result = config_.AddAddress(ParseCidr("10.8.0.2/24"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), EINVAL);
  ExpectMentions(result.error(),
                 {"interface zl0", "adding address 10.8.0.2/24", "CreateUnicastIpAddressEntry", "Win32 error 87"});
}

TEST_F(IpHelperConfiguratorTest, AddAddressRefusesANonUnicastAddressBeforeAnyCall) {
  for (const char* text : {"0.0.0.0/24", "::/64", "224.0.0.5/24", "ff02::1/64"}) {
    SCOPED_TRACE(text);
    const Result<void> result = config_.AddAddress(ParseCidr(text));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code(), EINVAL);
  }
  EXPECT_TRUE(fake_.calls.empty());
}

TEST_F(IpHelperConfiguratorTest, RemoveAddressDeletesByAddressAndLuid) {
  ASSERT_TRUE(config_.RemoveAddress(ParseCidr("fd00:8::2/64")).ok());
  EXPECT_EQ(fake_.calls, (Calls{"InitializeUnicastIpAddressEntry", "DeleteUnicastIpAddressEntry"}));
  EXPECT_EQ(Show(fake_.address_row.Address), "AF_INET6 fd00:8::2");
  EXPECT_EQ(fake_.address_row.InterfaceLuid.Value, kLuid);
  EXPECT_EQ(fake_.address_row.OnLinkPrefixLength, 64);
}

TEST_F(IpHelperConfiguratorTest, RemovingAnAbsentAddressIsEnoent) {
  fake_.delete_address_status = ERROR_NOT_FOUND;
  const Result<void> result = config_.RemoveAddress(ParseCidr("10.8.0.2/24"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ENOENT);
  ExpectMentions(result.error(),
                 {"interface zl0", "removing address 10.8.0.2/24", "DeleteUnicastIpAddressEntry", "1168"});
}

// --- routes ------------------------------------------------------------------

TEST_F(IpHelperConfiguratorTest, AddRouteFillsTheRowOnLinkAndViaAGatewayForEachFamily) {
  const struct {
    Route route;
    const char* destination;
    uint8_t prefix;
    const char* next_hop;
  } cases[] = {
      // On-link: the unspecified address of the destination's family.
      {{ParseCidr("10.8.0.0/24"), std::nullopt, 0}, "AF_INET 10.8.0.0", 24, "AF_INET 0.0.0.0"},
      {{ParseCidr("fd00:8::/64"), std::nullopt, 5}, "AF_INET6 fd00:8::", 64, "AF_INET6 ::"},
      {{ParseCidr("10.9.0.0/16"), ParseIp("0.0.0.0"), 0}, "AF_INET 10.9.0.0", 16, "AF_INET 0.0.0.0"},
      // Via a gateway; host bits of the destination are cleared.
      {{ParseCidr("10.9.1.7/16"), ParseIp("10.8.0.1"), 10}, "AF_INET 10.9.0.0", 16, "AF_INET 10.8.0.1"},
      {{ParseCidr("0.0.0.0/0"), ParseIp("10.8.0.1"), 0}, "AF_INET 0.0.0.0", 0, "AF_INET 10.8.0.1"},
      {{ParseCidr("2001:db8:1::5/48"), ParseIp("fd00:8::1"), 7}, "AF_INET6 2001:db8:1::", 48,
       "AF_INET6 fd00:8::1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.route.destination.ToString());
    fake_.calls.clear();
    ASSERT_TRUE(config_.AddRoute(c.route).ok());
    EXPECT_EQ(fake_.calls, (Calls{"InitializeIpForwardEntry", "CreateIpForwardEntry2"}));
    const MIB_IPFORWARD_ROW2& row = fake_.route_row;
    EXPECT_EQ(row.InterfaceLuid.Value, kLuid);
    EXPECT_EQ(row.InterfaceIndex, 0u);
    EXPECT_EQ(Show(row.DestinationPrefix.Prefix), c.destination);
    ExpectNoPortScopeOrFlow(row.DestinationPrefix.Prefix);
    EXPECT_EQ(row.DestinationPrefix.PrefixLength, c.prefix);
    EXPECT_EQ(Show(row.NextHop), c.next_hop);
    ExpectNoPortScopeOrFlow(row.NextHop);
    EXPECT_EQ(row.Metric, c.route.metric);
    EXPECT_EQ(row.Protocol, MIB_IPPROTO_NETMGMT);
    EXPECT_EQ(row.ValidLifetime, kInfinite);
    EXPECT_EQ(row.PreferredLifetime, kInfinite);
    // Left as InitializeIpForwardEntry set them.
    EXPECT_EQ(row.Immortal, TRUE);
    EXPECT_EQ(row.Loopback, TRUE);
  }
}

TEST_F(IpHelperConfiguratorTest, AddingARouteThatExistsIsOk) {
  fake_.create_route_status = ERROR_OBJECT_ALREADY_EXISTS;
  EXPECT_TRUE(config_.AddRoute({ParseCidr("10.8.0.0/24"), std::nullopt, 0}).ok());
  EXPECT_TRUE(config_.AddRoute({ParseCidr("fd00:8::/64"), ParseIp("fd00:8::1"), 0}).ok());
}

TEST_F(IpHelperConfiguratorTest, AddRouteReportsAnotherErrorWithTheRouteAndCode) {
  fake_.create_route_status = ERROR_ACCESS_DENIED;
  const Result<void> via = config_.AddRoute({ParseCidr("10.9.0.0/16"), ParseIp("10.8.0.1"), 3});
  ASSERT_FALSE(via.ok());
  EXPECT_EQ(via.error().code(), EACCES);
  ExpectMentions(via.error(), {"interface zl0", "adding route 10.9.0.0/16 via 10.8.0.1 metric 3",
                               "CreateIpForwardEntry2", "Win32 error 5"});

  fake_.create_route_status = ERROR_INVALID_PARAMETER;
  const Result<void> on_link = config_.AddRoute({ParseCidr("fd00:8::/64"), std::nullopt, 0});
  ASSERT_FALSE(on_link.ok());
  EXPECT_EQ(on_link.error().code(), EINVAL);
  ExpectMentions(on_link.error(), {"adding route fd00:8::/64 on-link", "Win32 error 87"});
}

TEST_F(IpHelperConfiguratorTest, ANextHopOfTheOtherFamilyIsEinvalBeforeAnyCall) {
  const Route routes[] = {{ParseCidr("10.8.0.0/24"), ParseIp("fd00:8::1"), 0},
                          {ParseCidr("fd00:8::/64"), ParseIp("10.8.0.1"), 0}};
  for (const Route& route : routes) {
    SCOPED_TRACE(route.destination.ToString());
    EXPECT_EQ(config_.AddRoute(route).error().code(), EINVAL);
    EXPECT_EQ(config_.RemoveRoute(route).error().code(), EINVAL);
  }
  EXPECT_TRUE(fake_.calls.empty());
}

TEST_F(IpHelperConfiguratorTest, RemoveRouteDeletesByDestinationNextHopAndLuid) {
  ASSERT_TRUE(config_.RemoveRoute({ParseCidr("10.9.1.7/16"), ParseIp("10.8.0.1"), 0}).ok());
  EXPECT_EQ(fake_.calls, (Calls{"InitializeIpForwardEntry", "DeleteIpForwardEntry2"}));
  EXPECT_EQ(fake_.route_row.InterfaceLuid.Value, kLuid);
  EXPECT_EQ(Show(fake_.route_row.DestinationPrefix.Prefix), "AF_INET 10.9.0.0");
  EXPECT_EQ(fake_.route_row.DestinationPrefix.PrefixLength, 16);
  EXPECT_EQ(Show(fake_.route_row.NextHop), "AF_INET 10.8.0.1");

  ASSERT_TRUE(config_.RemoveRoute({ParseCidr("fd00:8::/64"), std::nullopt, 0}).ok());
  EXPECT_EQ(Show(fake_.route_row.NextHop), "AF_INET6 ::");
}

TEST_F(IpHelperConfiguratorTest, RemovingAnAbsentRouteIsEnoent) {
  fake_.delete_route_status = ERROR_NOT_FOUND;
  const Result<void> result = config_.RemoveRoute({ParseCidr("10.8.0.0/24"), std::nullopt, 0});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ENOENT);
  ExpectMentions(result.error(), {"interface zl0", "removing route 10.8.0.0/24 on-link", "DeleteIpForwardEntry2"});
}

// --- opening by name ---------------------------------------------------------

TEST_F(IpHelperConfiguratorTest, OpenConvertsTheAliasToTheLuid) {
  fake_.converted_luid = kLuid;
  auto opened = IpHelperConfigurator::Open("ZLayer wg0 \xC3\xA9", FakeFunctions());
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ((*opened)->luid(), kLuid);
  EXPECT_EQ((*opened)->interface_name(), "ZLayer wg0 \xC3\xA9");
  EXPECT_EQ(fake_.alias, L"ZLayer wg0 \u00E9");  // UTF-16 for the W API
  EXPECT_EQ(fake_.calls, (Calls{"ConvertInterfaceAliasToLuid"}));
}

TEST_F(IpHelperConfiguratorTest, OpenAnUnknownAliasIsEnodev) {
  fake_.convert_status = ERROR_INVALID_PARAMETER;  // the answer for an unknown alias
  auto opened = IpHelperConfigurator::Open("zl-missing", FakeFunctions());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ENODEV);
  ExpectMentions(opened.error(), {"zl-missing"});
}

TEST_F(IpHelperConfiguratorTest, OpenReportsAnotherLookupError) {
  fake_.convert_status = ERROR_NOT_ENOUGH_MEMORY;
  auto opened = IpHelperConfigurator::Open("zl0", FakeFunctions());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ENOMEM);
  ExpectMentions(opened.error(), {"interface zl0", "ConvertInterfaceAliasToLuid", "Win32 error 8"});
}

TEST_F(IpHelperConfiguratorTest, OpenAnEmptyNameIsEinvalWithoutALookup) {
  auto opened = IpHelperConfigurator::Open("", FakeFunctions());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), EINVAL);
  EXPECT_TRUE(fake_.calls.empty());
}

// --- the real iphlpapi: lookups only ----------------------------------------

TEST(IpHelperSystemTest, OpeningAnUnknownInterfaceIsEnodev) {
  auto opened = OpenInterfaceConfigurator("zl-no-such-interface-7f3a");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ENODEV);
  EXPECT_EQ(opened.error().message(), "no network interface named zl-no-such-interface-7f3a");
}

TEST(IpHelperSystemTest, AConfiguratorForALuidNeedsNoLookup) {
  const std::unique_ptr<InterfaceConfigurator> config = InterfaceConfiguratorForLuid(kLuid, "zl0");
  const auto* ip_helper = dynamic_cast<const IpHelperConfigurator*>(config.get());
  ASSERT_NE(ip_helper, nullptr);
  EXPECT_EQ(ip_helper->luid(), kLuid);
  EXPECT_EQ(ip_helper->interface_name(), "zl0");
}

TEST(IpHelperSystemTest, OpensAnExistingInterfaceByAliasWithItsLuid) {
  MIB_IF_TABLE2* table = nullptr;
  ASSERT_EQ(GetIfTable2(&table), static_cast<DWORD>(NO_ERROR));
  std::string alias;
  uint64_t luid = 0;
  for (ULONG i = 0; i < table->NumEntries && alias.empty(); ++i) {
    alias = Utf8FromWide(table->Table[i].Alias);
    luid = table->Table[i].InterfaceLuid.Value;
  }
  FreeMibTable(table);
  if (alias.empty()) GTEST_SKIP() << "no interface with an alias";
  // Only the lookup: configuring it would call what wine does not implement.
  auto opened = IpHelperConfigurator::Open(alias, IpHelperFunctions::System());
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ((*opened)->luid(), luid) << alias;
}

}  // namespace
}  // namespace zl::net
