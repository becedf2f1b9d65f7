#include "net/linux_tun.h"

#include <gtest/gtest.h>

#include <string>

// Hermetic: names are validated before /dev/net/tun is opened, so these run
// without root. Creating real TUNs is in linux_tun_netns_test.cc.

namespace zl::net {
namespace {

TEST(LinuxTunTest, InvalidNamesAreRejectedWithEinval) {
  for (const std::string& name :
       {std::string(""), std::string(16, 'a'), std::string("a/b"),
        std::string("a:b"), std::string("a b"), std::string("."),
        std::string(".."), std::string("a\tb")}) {
    SCOPED_TRACE("name \"" + name + "\"");
    auto tun = CreateLinuxTun(name);
    ASSERT_FALSE(tun.ok());
    EXPECT_EQ(tun.error().code(), EINVAL);
    EXPECT_NE(tun.error().message().find("invalid interface name"),
              std::string::npos)
        << tun.error().message();
  }
}

TEST(LinuxTunTest, NonPositiveMtuIsRejected) {
  auto tun = CreateLinuxTun("zl0", 0);
  ASSERT_FALSE(tun.ok());
  EXPECT_EQ(tun.error().code(), EINVAL);
}

}  // namespace
}  // namespace zl::net
