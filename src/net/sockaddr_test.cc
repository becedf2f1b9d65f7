#include "net/sockaddr.h"

#include <gtest/gtest.h>
#include <net/if.h>

#include <cstring>

namespace zl::net {
namespace {

TEST(SockaddrTest, EndpointsRoundTrip) {
  for (const char* text : {"192.0.2.1:51820", "[2001:db8::1]:1", "0.0.0.0:0",
                           "[::ffff:192.0.2.1]:65535", "[fe80::1%lo]:51820",
                           "[fe80::1%4000000000]:1"}) {
    SCOPED_TRACE(text);
    const Endpoint endpoint = Endpoint::Parse(text).value();
    sockaddr_storage storage;
    const socklen_t len = ToSockaddr(endpoint, &storage);
    EXPECT_EQ(len, endpoint.address().is_v4() ? sizeof(sockaddr_in)
                                              : sizeof(sockaddr_in6));
    EXPECT_EQ(FromSockaddr(storage, len), endpoint);
  }
}

TEST(SockaddrTest, ScopeIdIsSin6ScopeIdBothWays) {
  const IpAddress link_local = IpAddress::Parse("fe80::1").value();
  const Endpoint scoped(link_local, 51820, 7);
  sockaddr_storage storage;
  ASSERT_EQ(ToSockaddr(scoped, &storage), sizeof(sockaddr_in6));
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  EXPECT_EQ(sin6->sin6_scope_id, 7u);
  EXPECT_EQ(FromSockaddr(storage, sizeof(sockaddr_in6)), scoped);

  // What recvfrom reports for a datagram from a link-local source.
  sockaddr_storage received{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&received);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(9);
  std::memcpy(&in6->sin6_addr, link_local.bytes().data(), 16);
  in6->sin6_scope_id = 3;
  EXPECT_EQ(FromSockaddr(received, sizeof(sockaddr_in6)),
            Endpoint(link_local, 9, 3));
  in6->sin6_scope_id = 0;
  EXPECT_EQ(FromSockaddr(received, sizeof(sockaddr_in6))->scope_id(), 0u);
}

TEST(SockaddrTest, ParsedZoneReachesTheKernelForm) {
  const uint32_t lo = ::if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  sockaddr_storage storage;
  ToSockaddr(Endpoint::Parse("[fe80::1%lo]:1").value(), &storage);
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_scope_id,
            lo);
  ToSockaddr(Endpoint::Parse("192.0.2.1:1").value(), &storage);
  EXPECT_EQ(storage.ss_family, AF_INET);
}

TEST(SockaddrTest, UnknownFamilyOrShortLengthIsRejected) {
  sockaddr_storage storage{};
  storage.ss_family = AF_UNIX;
  EXPECT_FALSE(FromSockaddr(storage, sizeof(storage)).has_value());
  ToSockaddr(Endpoint::Parse("[::1]:1").value(), &storage);
  EXPECT_FALSE(FromSockaddr(storage, sizeof(sockaddr_in)).has_value());
}

}  // namespace
}  // namespace zl::net
