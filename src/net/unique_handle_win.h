#pragma once
// UniqueHandle: owns one Win32 kernel object HANDLE (event, file, ...) and
// closes it with CloseHandle; Windows' counterpart of base/unique_fd.h.
// Both nullptr and INVALID_HANDLE_VALUE mean "none" (CreateFileW returns the
// latter, CreateEventW the former).
//
// Windows-only (net/ *_win files). Thread safety: a value type; one owner.

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <utility>

namespace zl::net {

class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(HANDLE h) : h_(h) {}
  UniqueHandle(UniqueHandle&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.h_, nullptr));
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  ~UniqueHandle() { Reset(); }

  bool valid() const { return h_ != nullptr && h_ != INVALID_HANDLE_VALUE; }
  HANDLE get() const { return h_; }
  void Reset(HANDLE h = nullptr) {
    if (valid()) CloseHandle(h_);
    h_ = h;
  }

 private:
  HANDLE h_ = nullptr;
};

}  // namespace zl::net
