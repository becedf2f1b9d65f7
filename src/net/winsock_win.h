#pragma once
// Winsock basics for net/'s *_win files: InitWinsock starts Winsock once per
// process, and UniqueSocket owns one SOCKET (closesocket), the Winsock
// counterpart of base/unique_fd.h.
//
// Winsock is started with WSAStartup(2.2) the first time InitWinsock is
// called and never cleaned up: it lives as long as the process, so no socket
// of ours can outlive it, and a second call costs one atomic load. Errors are
// errno-coded (win32_error_win.h).
//
// Windows-only (net/ *_win files). Thread safety: InitWinsock from any
// thread; UniqueSocket is a value type with one owner.

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <utility>

#include "base/result.h"

namespace zl::net {

// Calls WSAStartup(2.2) once per process; later calls return its outcome.
Result<void> InitWinsock();

class UniqueSocket {
 public:
  UniqueSocket() = default;
  explicit UniqueSocket(SOCKET s) : s_(s) {}
  UniqueSocket(UniqueSocket&& other) noexcept : s_(std::exchange(other.s_, INVALID_SOCKET)) {}
  UniqueSocket& operator=(UniqueSocket&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.s_, INVALID_SOCKET));
    return *this;
  }
  UniqueSocket(const UniqueSocket&) = delete;
  UniqueSocket& operator=(const UniqueSocket&) = delete;
  ~UniqueSocket() { Reset(); }

  bool valid() const { return s_ != INVALID_SOCKET; }
  explicit operator bool() const { return valid(); }
  SOCKET get() const { return s_; }
  void Reset(SOCKET s = INVALID_SOCKET) {
    if (valid()) closesocket(s_);
    s_ = s;
  }

 private:
  SOCKET s_ = INVALID_SOCKET;
};

}  // namespace zl::net
