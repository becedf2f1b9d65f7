#pragma once
// Helpers for net/'s own tests only (unit and netns): bounded waits and plain
// UDP sockets playing the peer. Not part of the layer's API.
//
// The peer part is the platform's, under the same names on both: OpenUdp,
// LocalEndpoint, SendTo, ReceiveFrom and WaitReadable (a Waitable: an fd
// here, a HANDLE in test_util_win.h), so the Bind contract tests
// (bind_test.cc) are written once.
//
// Thread safety: free functions over the caller's descriptors.

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/ip.h"
#include "base/result.h"
#include "net/bind.h"

namespace zl::net::testing {

// Every wait in net/'s tests is bounded by this.
inline constexpr std::chrono::milliseconds kTestTimeout{3000};

struct Datagram {
  std::string payload;
  Endpoint from;
};

inline IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }

inline ByteSpan AsBytes(const std::string& s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace zl::net::testing

#ifdef _WIN32
#include "net/test_util_win.h"
#else
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

#include "base/unique_fd.h"
#include "net/sockaddr.h"
#include "net/udp_bind.h"

namespace zl::net::testing {

// True when `fd` becomes readable within `timeout`.
inline bool WaitReadable(int fd,
                         std::chrono::milliseconds timeout = kTestTimeout) {
  pollfd pfd{fd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  } while (n < 0 && errno == EINTR);
  return n == 1 && (pfd.revents & POLLIN) != 0;
}

// A non-blocking UDP socket bound to `local` (port 0: any).
inline Result<UniqueFd> OpenUdp(const Endpoint& local) {
  UniqueFd fd(::socket(local.address().is_v4() ? AF_INET : AF_INET6,
                       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket");
  sockaddr_storage storage;
  const socklen_t len = ToSockaddr(local, &storage);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return ErrnoError("bind " + local.ToString());
  }
  return fd;
}

inline Endpoint LocalEndpoint(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len);
  return FromSockaddr(storage, len).value_or(Endpoint());
}

inline bool SendTo(int fd, const Endpoint& to, const std::string& payload) {
  sockaddr_storage storage;
  const socklen_t len = ToSockaddr(to, &storage);
  return ::sendto(fd, payload.data(), payload.size(), 0,
                  reinterpret_cast<const sockaddr*>(&storage),
                  len) == static_cast<ssize_t>(payload.size());
}

// Waits (bounded) for one datagram on `fd`.
inline std::optional<Datagram> ReceiveFrom(int fd) {
  if (!WaitReadable(fd)) return std::nullopt;
  char buf[2048];
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  const ssize_t n = ::recvfrom(fd, buf, sizeof(buf), 0,
                               reinterpret_cast<sockaddr*>(&storage), &len);
  if (n < 0) return std::nullopt;
  return Datagram{std::string(buf, static_cast<size_t>(n)),
                  FromSockaddr(storage, len).value_or(Endpoint())};
}

// Waits (bounded) until datagrams sent to `address` arrive. A new IPv6
// address becomes bindable before its local route is in place (both happen in
// the kernel's DAD work, even with `nodad`), so probe with a real datagram.
// A link-local address needs its interface's index as `scope_id`.
inline bool WaitForLocalAddress(const IpAddress& address,
                                uint32_t scope_id = 0) {
  const auto deadline = std::chrono::steady_clock::now() + kTestTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto probe = OpenUdp(Endpoint(address, 0, scope_id));
    if (probe.ok() &&
        SendTo(probe->get(), LocalEndpoint(probe->get()), "probe") &&
        WaitReadable(probe->get(), std::chrono::milliseconds(20))) {
      return true;
    }
    ::poll(nullptr, 0, 5);  // sleep 5 ms
  }
  return false;
}

// Runs a shell command (netns tests: `ip ...`); true when it exits 0.
inline bool Shell(const std::string& command) {
  return std::system(command.c_str()) == 0;
}

}  // namespace zl::net::testing
#endif  // _WIN32

namespace zl::net::testing {

// Receives (bounded in time) until at least `want` datagrams came from the
// socket of `family`, into `storage` (which must outlive the slots).
inline std::vector<RecvSlot> ReceiveAtLeast(
    Bind& bind, IpAddress::Family family, size_t want,
    std::vector<std::array<uint8_t, 2048>>& storage) {
  storage.resize(want + kMaxBatchSize);
  std::vector<RecvSlot> got;
  while (got.size() < want && WaitReadable(bind.waitable(family))) {
    std::vector<RecvSlot> slots(kMaxBatchSize);
    for (size_t i = 0; i < slots.size(); ++i) {
      slots[i].buf = storage[got.size() + i];
    }
    auto n = bind.Receive(family, slots);
    if (!n.ok()) break;
    got.insert(got.end(), slots.begin(), slots.begin() + static_cast<long>(*n));
  }
  return got;
}

}  // namespace zl::net::testing
