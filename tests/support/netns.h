#pragma once
// EnterPrivateNetns: moves the calling thread (and every process or thread it
// starts afterwards) into a fresh, empty network namespace with `lo` up.
//
// The kernel destroys the namespace, with every interface created in it, when
// the last thread or socket using it is gone: a crashed test leaves nothing
// behind. Each call makes a new namespace, so tests do not see each other's
// interfaces. Call it first in each netns test, on the test's main thread,
// through ZL_ENTER_PRIVATE_NETNS_OR_SKIP(); threads started before the call
// stay in the old namespace.
//
// Needs root (CAP_SYS_ADMIN for unshare, CAP_NET_ADMIN inside) and
// /dev/net/tun; otherwise the macro skips the test with the reason.
// Thread safety: affects the calling thread only.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace zl::testing {

// Returns "" on success, else why the namespace could not be entered.
inline std::string EnterPrivateNetns() {
  if (::geteuid() != 0)
    return "netns test needs root (run as root or under sudo)";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
    return std::string("netns test needs /dev/net/tun: ") +
           std::strerror(errno);
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    const int err = errno;
    if (err == EPERM)
      return "unshare(CLONE_NEWNET) not permitted (container without "
             "CAP_SYS_ADMIN?)";
    return std::string("unshare(CLONE_NEWNET): ") + std::strerror(err);
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  std::string error;
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    error = std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
      error = std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
  }
  ::close(fd);
  return error;
}

}  // namespace zl::testing

// Enters a private network namespace, or skips the current test saying why.
#define ZL_ENTER_PRIVATE_NETNS_OR_SKIP()                                     \
  do {                                                                       \
    const std::string zl_netns_reason_ = ::zl::testing::EnterPrivateNetns(); \
    if (!zl_netns_reason_.empty()) GTEST_SKIP() << zl_netns_reason_;         \
  } while (0)
