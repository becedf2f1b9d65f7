#pragma once
// The Winsock half of test_util.h (include that one): plain Winsock UDP
// sockets playing the peer and bounded waits on handles, under the names the
// POSIX half uses, plus RunningUnderWine. Not part of the layer's API.
//
// Thread safety: free functions over the caller's sockets and handles.

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <ws2tcpip.h>
#include <windows.h>

#include "net/sockaddr.h"
#include "net/waitable.h"
#include "net/win32_error_win.h"
#include "net/winsock_win.h"

namespace zl::net::testing {

// True when `handle` (an event) is signalled within `timeout` (0: now).
inline bool WaitReadable(Waitable handle, std::chrono::milliseconds timeout = kTestTimeout) {
  return WaitForSingleObject(static_cast<HANDLE>(handle), static_cast<DWORD>(timeout.count())) ==
         WAIT_OBJECT_0;
}

// A blocking UDP socket bound to `local` (port 0: any).
inline Result<UniqueSocket> OpenUdp(const Endpoint& local) {
  ZL_RETURN_IF_ERROR(InitWinsock());
  UniqueSocket s(socket(local.address().is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM, IPPROTO_UDP));
  if (!s) return LastWsaError("socket");
  sockaddr_storage storage;
  const socklen_t len = ToSockaddr(local, &storage);
  if (bind(s.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return LastWsaError("bind " + local.ToString());
  }
  return s;
}

inline Endpoint LocalEndpoint(SOCKET s) {
  sockaddr_storage storage{};
  int len = sizeof(storage);
  getsockname(s, reinterpret_cast<sockaddr*>(&storage), &len);
  return FromSockaddr(storage, len).value_or(Endpoint());
}

inline bool SendTo(SOCKET s, const Endpoint& to, const std::string& payload) {
  sockaddr_storage storage;
  const socklen_t len = ToSockaddr(to, &storage);
  return sendto(s, payload.data(), static_cast<int>(payload.size()), 0,
                reinterpret_cast<const sockaddr*>(&storage),
                len) == static_cast<int>(payload.size());
}

// Waits (bounded) for one datagram on `s`.
inline std::optional<Datagram> ReceiveFrom(SOCKET s) {
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(s, &readable);
  const auto ms = kTestTimeout.count();
  timeval tv{static_cast<long>(ms / 1000), static_cast<long>(ms % 1000) * 1000};
  if (select(0, &readable, nullptr, nullptr, &tv) != 1) return std::nullopt;
  std::array<char, 2048> buf;
  sockaddr_storage storage{};
  int len = sizeof(storage);
  const int n = recvfrom(s, buf.data(), static_cast<int>(buf.size()), 0,
                         reinterpret_cast<sockaddr*>(&storage), &len);
  if (n < 0) return std::nullopt;
  return Datagram{std::string(buf.data(), static_cast<size_t>(n)),
                  FromSockaddr(storage, len).value_or(Endpoint())};
}

// True under wine (its ntdll exports wine_get_version), for the few
// behaviours wine lacks; each test that skips says which.
inline bool RunningUnderWine() {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

}  // namespace zl::net::testing
