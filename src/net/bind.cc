#include "net/bind.h"

#include <cstdint>

namespace zl::net {

ListenAddresses ListenAddresses::Any() {
  const uint8_t zeros[16] = {};
  return ListenAddresses{IpAddress::V4(0u), IpAddress::V6(zeros)};
}

ListenAddresses ListenAddresses::Loopback() {
  uint8_t one[16] = {};
  one[15] = 1;
  return ListenAddresses{IpAddress::V4(0x7f000001u), IpAddress::V6(one)};
}

}  // namespace zl::net
