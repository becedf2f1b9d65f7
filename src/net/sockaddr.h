#pragma once
// Conversions between zl::Endpoint and the kernel's sockaddr_in/sockaddr_in6.
//
// Internal to net/ (and its tests): nothing above net/ includes OS headers.
// Shared by LinuxBind and WinsockBind (winsock_bind_win.h): Winsock has the
// same structures (socklen_t from ws2tcpip.h).
// Thread safety: pure functions.

#ifdef _WIN32
#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <optional>

#include "base/ip.h"

namespace zl::net {

// An IPv6 endpoint's scope id is sin6_scope_id both ways: the kernel sends to
// a link-local address only with one, and reports the arriving interface's
// index in it for a datagram from a link-local source (so a link-local peer
// that roams gets a scoped endpoint).

// Writes `endpoint` into `storage`; returns the length to pass to the kernel.
socklen_t ToSockaddr(const Endpoint& endpoint, sockaddr_storage* storage);

// nullopt for a family other than AF_INET/AF_INET6 or a short length.
std::optional<Endpoint> FromSockaddr(const sockaddr_storage& storage,
                                     socklen_t len);

}  // namespace zl::net
