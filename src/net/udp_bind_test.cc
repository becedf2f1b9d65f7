#include "net/udp_bind.h"

#include <gtest/gtest.h>

#include "net/test_util.h"

// What is particular to LinuxBind; the Bind contract is checked against it in
// bind_test.cc. Hermetic: everything binds to 127.0.0.1 / ::1 in the host
// namespace. Tests needing root (buffer sizes, fwmark) or extra addresses are
// in udp_bind_netns_test.cc.

namespace zl::net {
namespace {

using testing::Ip;
using Family = IpAddress::Family;

TEST(LinuxBindTest, EachFamilysFdIsBoundToItsListenAddressOnOnePort) {
  auto bind = LinuxBind::Open(0, ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok()) << bind.error().message();
  const LinuxBind& b = **bind;
  EXPECT_NE(b.port(), 0);
  ASSERT_GE(b.fd(Family::kV4), 0);
  ASSERT_GE(b.fd(Family::kV6), 0);
  EXPECT_EQ(b.waitable(Family::kV4), b.fd(Family::kV4));
  EXPECT_EQ(b.waitable(Family::kV6), b.fd(Family::kV6));
  EXPECT_EQ(testing::LocalEndpoint(b.fd(Family::kV4)),
            Endpoint(Ip("127.0.0.1"), b.port()));
  EXPECT_EQ(testing::LocalEndpoint(b.fd(Family::kV6)),
            Endpoint(Ip("::1"), b.port()));
}

TEST(LinuxBindTest, AFamilyThatIsOffHasNoFd) {
  ListenAddresses v4_only = ListenAddresses::Loopback();
  v4_only.v6.reset();
  auto bind = LinuxBind::Open(0, v4_only);
  ASSERT_TRUE(bind.ok());
  EXPECT_EQ((*bind)->fd(Family::kV6), -1);
}

TEST(LinuxBindTest, OpenUdpBindGivesALinuxBind) {
  auto bind = OpenUdpBind(0, ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok()) << bind.error().message();
  EXPECT_NE(dynamic_cast<LinuxBind*>(bind->get()), nullptr);
}

}  // namespace
}  // namespace zl::net
