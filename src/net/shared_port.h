#pragma once
// OpenOnSharedPort: how a Bind (bind.h) puts its IPv4 and IPv6 sockets on one
// UDP port, shared by LinuxBind and WinsockBind so both choose alike.
//
// The socket of each family in `listen` is opened through the caller's
// `open_socket(address, port)`, which binds (address, port), keeps the socket
// and returns the port it got. For port 0 the first family gets a port from
// the OS and the second is asked for the same one; if that port is taken in
// the second family (EADDRINUSE), `discard()` drops what was kept and it
// starts over, up to kSharedPortAttempts times. A family whose socket cannot
// be created at all (EAFNOSUPPORT: no stack for it) is left off; any other
// error is returned as it is (EADDRINUSE for a given port that is taken).
//
// Thread safety: a pure function of its callbacks.

#include <cstdint>
#include <functional>
#include <string_view>

#include "base/ip.h"
#include "base/result.h"
#include "net/bind.h"

namespace zl::net {

inline constexpr int kSharedPortAttempts = 10;

using OpenSocketFn =
    std::function<Result<uint16_t>(const IpAddress& address, uint16_t port)>;

// Returns the port both families' sockets hold. `who` names the caller in
// errors ("LinuxBind"). EINVAL if `listen` names no address, EAFNOSUPPORT if
// neither family could be opened.
Result<uint16_t> OpenOnSharedPort(uint16_t port, const ListenAddresses& listen,
                                  const OpenSocketFn& open_socket,
                                  const std::function<void()>& discard,
                                  std::string_view who);

}  // namespace zl::net
