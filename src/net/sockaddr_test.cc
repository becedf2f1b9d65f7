#include "net/sockaddr.h"

#include <gtest/gtest.h>

namespace zl::net {
namespace {

TEST(SockaddrTest, EndpointsRoundTrip) {
  for (const char* text : {"192.0.2.1:51820", "[2001:db8::1]:1", "0.0.0.0:0",
                           "[::ffff:192.0.2.1]:65535"}) {
    SCOPED_TRACE(text);
    const Endpoint endpoint = Endpoint::Parse(text).value();
    sockaddr_storage storage;
    const socklen_t len = ToSockaddr(endpoint, &storage);
    EXPECT_EQ(len, endpoint.address().is_v4() ? sizeof(sockaddr_in)
                                              : sizeof(sockaddr_in6));
    EXPECT_EQ(FromSockaddr(storage, len), endpoint);
  }
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
