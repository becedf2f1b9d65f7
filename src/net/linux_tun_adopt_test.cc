#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "base/unique_fd.h"
#include "net/linux_tun.h"

// Hermetic: descriptors that are not an attached TUN are refused before
// anything needs root. Adopting a real TUN is in linux_tun_netns_test.cc.

namespace zl::net {
namespace {

bool Mentions(const Error& e, const std::string& text) {
  return e.message().find(text) != std::string::npos;
}

TEST(AdoptLinuxTunTest, ClosedDescriptorIsRefusedWithEbadf) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int closed = fds[0];
  ::close(fds[0]);
  ::close(fds[1]);
  auto tun = AdoptLinuxTun(UniqueFd(closed));
  ASSERT_FALSE(tun.ok());
  EXPECT_EQ(tun.error().code(), EBADF);
  EXPECT_TRUE(Mentions(tun.error(),
                       "descriptor " + std::to_string(closed) + " is not open"))
      << tun.error().message();
}

TEST(AdoptLinuxTunTest, NoDescriptorIsRefusedWithEbadf) {
  auto tun = AdoptLinuxTun(UniqueFd());
  ASSERT_FALSE(tun.ok());
  EXPECT_EQ(tun.error().code(), EBADF);
}

TEST(AdoptLinuxTunTest, PipeIsRefusedAsNotATun) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd keep(fds[1]);
  auto tun = AdoptLinuxTun(UniqueFd(fds[0]));
  ASSERT_FALSE(tun.ok());
  EXPECT_TRUE(Mentions(tun.error(), "is not a TUN device"))
      << tun.error().message();
}

TEST(AdoptLinuxTunTest, SocketIsRefusedAsNotATun) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  auto tun = AdoptLinuxTun(std::move(fd));
  ASSERT_FALSE(tun.ok());
  EXPECT_TRUE(Mentions(tun.error(), "is not a TUN device"))
      << tun.error().message();
}

TEST(AdoptLinuxTunTest, UnattachedTunDescriptorIsRefused) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) GTEST_SKIP() << "cannot open /dev/net/tun";
  auto tun = AdoptLinuxTun(std::move(fd));
  ASSERT_FALSE(tun.ok());
  EXPECT_EQ(tun.error().code(), EBADFD);
  EXPECT_TRUE(Mentions(tun.error(), "not a TUN device attached"))
      << tun.error().message();
}

TEST(AdoptLinuxTunTest, NonPositiveMtuIsRefused) {
  UniqueFd fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  auto tun = AdoptLinuxTun(std::move(fd), 0);
  ASSERT_FALSE(tun.ok());
  EXPECT_EQ(tun.error().code(), EINVAL);
}

}  // namespace
}  // namespace zl::net
