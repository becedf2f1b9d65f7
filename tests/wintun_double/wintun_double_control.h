#pragma once
// The tests' handle on the Wintun test double (wintun_double.cc): where the
// build put it, and its test-side exports.
//
// ZL_WINTUN_DOUBLE_DIR and ZL_WINTUN_DOUBLE_MISSING_EXPORT_DIR (set by
// cmake/windows.cmake) are the doubles' directories relative to the test
// executable's directory, so they hold under wine whatever the Unix path.
//
// Windows-only, tests only. Thread safety: the double's functions are
// thread-safe; Load once per test.

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <optional>
#include <string>

#include "net/known_paths_win.h"

namespace zl::net::testing {

// The full path of a double's wintun.dll; `relative_dir` is one of the
// definitions above.
inline std::wstring WintunDoublePath(const char* relative_dir) {
  auto exe_dir = ExecutableDirectory();
  std::wstring relative;
  for (const char* p = relative_dir; *p != 0; ++p) {
    relative += *p == '/' ? L'\\' : static_cast<wchar_t>(*p);
  }
  return JoinPath(JoinPath(exe_dir.ok() ? *exe_dir : L".", relative), L"wintun.dll");
}

struct WintunDoubleControl {
  HMODULE module = nullptr;
  DWORD(WINAPI* InjectReceive)(LPCWSTR name, const BYTE* data, DWORD size) = nullptr;
  DWORD(WINAPI* TakeSent)(LPCWSTR name, BYTE* buf, DWORD capacity, DWORD* size) = nullptr;
  DWORD(WINAPI* RemoveAdapter)(LPCWSTR name) = nullptr;
  DWORD(WINAPI* SessionCapacity)(LPCWSTR name) = nullptr;
  DWORD(WINAPI* AdapterCount)() = nullptr;
  void(WINAPI* Reset)() = nullptr;

  // The test exports of an already loaded double (e.g. by WintunLibrary).
  static std::optional<WintunDoubleControl> Of(HMODULE module) {
    WintunDoubleControl c;
    c.module = module;
    bool ok = Get(module, "ZlTestInjectReceive", c.InjectReceive) && Get(module, "ZlTestTakeSent", c.TakeSent) &&
              Get(module, "ZlTestRemoveAdapter", c.RemoveAdapter) &&
              Get(module, "ZlTestSessionCapacity", c.SessionCapacity) &&
              Get(module, "ZlTestAdapterCount", c.AdapterCount) && Get(module, "ZlTestReset", c.Reset);
    if (!ok) return std::nullopt;
    return c;
  }

 private:
  template <typename Fn>
  static bool Get(HMODULE module, const char* name, Fn& slot) {
    FARPROC proc = GetProcAddress(module, name);
    slot = reinterpret_cast<Fn>(reinterpret_cast<void*>(proc));
    return proc != nullptr;
  }
};

}  // namespace zl::net::testing
