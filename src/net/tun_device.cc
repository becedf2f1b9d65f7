#include "net/tun_device.h"

#include <cerrno>

namespace zl::net {

bool IsTunGone(const Error& error) {
#if defined(EBADFD)
  if (error.code() == EBADFD) return true;
#endif
  return error.code() == ENODEV;
}

}  // namespace zl::net
