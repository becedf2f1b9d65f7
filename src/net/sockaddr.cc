#include "net/sockaddr.h"

#include <cstring>

namespace zl::net {

socklen_t ToSockaddr(const Endpoint& endpoint, sockaddr_storage* storage) {
  std::memset(storage, 0, sizeof(*storage));
  const IpAddress& ip = endpoint.address();
  if (ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(endpoint.port());
    std::memcpy(&sin->sin_addr, ip.bytes().data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(endpoint.port());
  std::memcpy(&sin6->sin6_addr, ip.bytes().data(), 16);
  sin6->sin6_scope_id = endpoint.scope_id();
  return sizeof(sockaddr_in6);
}

std::optional<Endpoint> FromSockaddr(const sockaddr_storage& storage,
                                     socklen_t len) {
  if (storage.ss_family == AF_INET &&
      len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage);
    return Endpoint(
        IpAddress::V4(reinterpret_cast<const uint8_t*>(&sin->sin_addr)),
        ntohs(sin->sin_port));
  }
  if (storage.ss_family == AF_INET6 &&
      len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    return Endpoint(IpAddress::V6(sin6->sin6_addr.s6_addr),
                    ntohs(sin6->sin6_port), sin6->sin6_scope_id);
  }
  return std::nullopt;
}

}  // namespace zl::net
