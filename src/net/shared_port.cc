#include "net/shared_port.h"

#include <cerrno>
#include <optional>
#include <string>

namespace zl::net {

Result<uint16_t> OpenOnSharedPort(uint16_t port, const ListenAddresses& listen,
                                  const OpenSocketFn& open_socket,
                                  const std::function<void()>& discard,
                                  std::string_view who) {
  const std::string name(who);
  if (!listen.v4 && !listen.v6)
    return MakeError(EINVAL, name + ": no listen address");
  Error last_error = MakeError(EADDRINUSE, "no attempt");
  for (int attempt = 0; attempt < kSharedPortAttempts; ++attempt) {
    uint16_t chosen = port;
    int opened = 0;
    bool retry = false;
    for (const std::optional<IpAddress>& address : {listen.v4, listen.v6}) {
      if (!address) continue;
      auto got = open_socket(*address, chosen);
      if (!got.ok()) {
        const int code = got.error().code();
        if (code == EAFNOSUPPORT) continue;  // no stack for this family
        if (code == EADDRINUSE && port == 0 && chosen != 0) {
          // The port the OS picked for the first family is taken in this
          // one: start over with another.
          last_error = got.error();
          retry = true;
          break;
        }
        discard();
        return got.error();
      }
      chosen = *got;
      ++opened;
    }
    if (retry) {
      discard();
      continue;
    }
    if (opened == 0) {
      return MakeError(
          EAFNOSUPPORT,
          name + ": neither IPv4 nor IPv6 UDP sockets are available");
    }
    return chosen;
  }
  return last_error.Wrap(name + ": no port free in both IPv4 and IPv6 after " +
                         std::to_string(kSharedPortAttempts) + " attempts");
}

}  // namespace zl::net
