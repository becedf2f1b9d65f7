#pragma once
// Helpers for net/'s Windows tests only: bounded waits on handles and plain
// Winsock UDP sockets playing the peer; the Winsock counterpart of
// test_util.h. Not part of the layer's API.
//
// Thread safety: free functions over the caller's sockets and handles.

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <ws2tcpip.h>
#include <windows.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/ip.h"
#include "base/result.h"
#include "net/bind.h"
#include "net/sockaddr.h"
#include "net/win32_error_win.h"
#include "net/winsock_win.h"

namespace zl::net::testing {

// Every wait in net/'s Windows tests is bounded by this.
inline constexpr std::chrono::milliseconds kTestTimeout{3000};

// True when `handle` is signalled within `timeout` (0: right now).
inline bool WaitSignalled(void* handle, std::chrono::milliseconds timeout = kTestTimeout) {
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

inline Endpoint LocalEndpoint(const UniqueSocket& s) {
  sockaddr_storage storage{};
  int len = sizeof(storage);
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&storage), &len);
  return FromSockaddr(storage, len).value_or(Endpoint());
}

inline bool SendTo(const UniqueSocket& s, const Endpoint& to, const std::string& payload) {
  sockaddr_storage storage;
  const socklen_t len = ToSockaddr(to, &storage);
  return sendto(s.get(), payload.data(), static_cast<int>(payload.size()), 0,
                reinterpret_cast<const sockaddr*>(&storage),
                len) == static_cast<int>(payload.size());
}

struct Datagram {
  std::string payload;
  Endpoint from;
};

// Waits (bounded) for one datagram on `s`.
inline std::optional<Datagram> ReceiveFrom(const UniqueSocket& s,
                                           std::chrono::milliseconds timeout = kTestTimeout) {
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(s.get(), &readable);
  const auto ms = timeout.count();
  timeval tv{static_cast<long>(ms / 1000), static_cast<long>(ms % 1000) * 1000};
  if (select(0, &readable, nullptr, nullptr, &tv) != 1) return std::nullopt;
  std::array<char, 2048> buf;
  sockaddr_storage storage{};
  int len = sizeof(storage);
  const int n = recvfrom(s.get(), buf.data(), static_cast<int>(buf.size()), 0,
                         reinterpret_cast<sockaddr*>(&storage), &len);
  if (n < 0) return std::nullopt;
  return Datagram{std::string(buf.data(), static_cast<size_t>(n)),
                  FromSockaddr(storage, len).value_or(Endpoint())};
}

// Receives (bounded in time) until at least `want` datagrams came from the
// socket of `family`, waiting on its event, into `storage` (which must
// outlive the slots).
inline std::vector<RecvSlot> ReceiveAtLeast(Bind& bind, IpAddress::Family family, size_t want,
                                            std::vector<std::array<uint8_t, 2048>>& storage) {
  storage.resize(want + kMaxBatchSize);
  std::vector<RecvSlot> got;
  while (got.size() < want && WaitSignalled(bind.waitable(family))) {
    std::vector<RecvSlot> slots(kMaxBatchSize);
    for (size_t i = 0; i < slots.size(); ++i) slots[i].buf = storage[got.size() + i];
    auto n = bind.Receive(family, slots);
    if (!n.ok()) break;
    got.insert(got.end(), slots.begin(), slots.begin() + static_cast<long>(*n));
  }
  return got;
}

// True under wine (its ntdll exports wine_get_version), for the few
// behaviours wine lacks; each test that skips says which.
inline bool RunningUnderWine() {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

inline IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }

inline ByteSpan AsBytes(const std::string& s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace zl::net::testing
