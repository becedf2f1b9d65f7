#include "net/interface_config.h"

#include <gtest/gtest.h>

namespace zl::net {
namespace {

using Family = IpAddress::Family;

Cidr ParseCidr(const char* text) { return Cidr::Parse(text).value(); }
IpAddress ParseIp(const char* text) { return IpAddress::Parse(text).value(); }

TEST(InterfaceConfigTest, MtuBoundsArePerFamily) {
  struct Case {
    Family family;
    uint32_t mtu;
    bool ok;
  };
  const Case cases[] = {
      {Family::kV4, 575, false},  {Family::kV4, 576, true},     {Family::kV4, 1420, true},
      {Family::kV4, 65535, true}, {Family::kV4, 65536, false},  {Family::kV4, 0, false},
      {Family::kV6, 1279, false}, {Family::kV6, 1280, true},    {Family::kV6, 65535, true},
      {Family::kV6, 65536, false}, {Family::kV6, 576, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << FamilyName(c.family) << " " << c.mtu);
    const Result<void> result = CheckMtu(c.family, c.mtu);
    EXPECT_EQ(result.ok(), c.ok);
    if (!result.ok()) {
      EXPECT_EQ(result.error().code(), EINVAL);
      EXPECT_NE(result.error().message().find(std::to_string(c.mtu)), std::string::npos)
          << result.error().message();
    }
  }
}

TEST(InterfaceConfigTest, AnInterfaceAddressMustBeUnicast) {
  for (const char* text : {"10.8.0.2/24", "192.0.2.1/32", "fd00::2/64", "fe80::1/64"}) {
    EXPECT_TRUE(CheckInterfaceAddress(ParseCidr(text)).ok()) << text;
  }
  for (const char* text : {"0.0.0.0/0", "0.0.0.0/24", "::/64", "224.0.0.1/24", "239.1.2.3/32",
                           "ff02::1/64"}) {
    const Result<void> result = CheckInterfaceAddress(ParseCidr(text));
    ASSERT_FALSE(result.ok()) << text;
    EXPECT_EQ(result.error().code(), EINVAL);
    EXPECT_NE(result.error().message().find(text), std::string::npos) << result.error().message();
  }
}

TEST(InterfaceConfigTest, APrefixLongerThanItsAddressIsRefused) {
  // Cidr's constructor does not check (it REQUIRES); the configurator does.
  EXPECT_EQ(CheckInterfaceAddress(Cidr(ParseIp("10.8.0.2"), 33)).error().code(), EINVAL);
  EXPECT_EQ(CheckRoute(Route{Cidr(ParseIp("fd00::"), 129), std::nullopt, 0}).error().code(), EINVAL);
}

TEST(InterfaceConfigTest, ARoutesNextHopMustBeOfItsDestinationsFamily) {
  EXPECT_TRUE(CheckRoute(Route{ParseCidr("10.8.0.0/24"), std::nullopt, 0}).ok());
  EXPECT_TRUE(CheckRoute(Route{ParseCidr("10.8.0.0/24"), ParseIp("10.8.0.1"), 0}).ok());
  EXPECT_TRUE(CheckRoute(Route{ParseCidr("fd00::/64"), ParseIp("fd00::1"), 0}).ok());
  EXPECT_TRUE(CheckRoute(Route{ParseCidr("0.0.0.0/0"), ParseIp("0.0.0.0"), 0}).ok());

  const Result<void> v4_via_v6 = CheckRoute(Route{ParseCidr("10.8.0.0/24"), ParseIp("fd00::1"), 0});
  ASSERT_FALSE(v4_via_v6.ok());
  EXPECT_EQ(v4_via_v6.error().code(), EINVAL);
  EXPECT_EQ(v4_via_v6.error().message(), "route to 10.8.0.0/24: next hop fd00::1 is not IPv4");
  const Result<void> v6_via_v4 = CheckRoute(Route{ParseCidr("fd00::/64"), ParseIp("10.8.0.1"), 0});
  ASSERT_FALSE(v6_via_v4.ok());
  EXPECT_EQ(v6_via_v4.error().code(), EINVAL);
}

}  // namespace
}  // namespace zl::net
