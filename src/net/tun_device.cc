#include "net/tun_device.h"

#include <cerrno>

namespace zl::net {

size_t TunDevice::WriteBatch(std::span<const MutableByteSpan> packets) {
  size_t failed = 0;
  for (const MutableByteSpan& packet : packets) {
    if (!Write(packet).ok()) ++failed;
  }
  return failed;
}

bool IsTunGone(const Error& error) {
#if defined(EBADFD)
  if (error.code() == EBADFD) return true;
#endif
  return error.code() == ENODEV;
}

}  // namespace zl::net
