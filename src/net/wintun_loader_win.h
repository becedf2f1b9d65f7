#pragma once
// WintunLibrary: finds, verifies and loads wintun.dll, and resolves its API.
//
// wintun.dll is never embedded. It is looked for in this order, and nowhere
// else (WintunSearchPaths):
//   1. %ProgramData%\ZLayer\wintun\wintun.dll, the installed location
//      (ProgramData from SHGetKnownFolderPath, not from the environment);
//   2. next to the running executable;
//   3. the current working directory.
// The first that exists is the one used: a file there that fails a check is
// an error, never a reason to try the next place. The file is opened without
// write or delete sharing, its Authenticode signature is verified
// (wintun_signature_win.h: it must be WireGuard LLC's), and only then is it
// loaded, with LoadLibraryExW(full path, LOAD_LIBRARY_SEARCH_SYSTEM32) so its
// own dependencies come only from System32; the handle is held until the load
// is done. Every export is resolved and checked (wintun_api_win.h), and
// Wintun's log is forwarded to ours (info as verbose, warnings and errors as
// errors).
//
// Built with ZL_WINTUN_ALLOW_UNSIGNED (a CMake option, default OFF; release
// builds and packages never set it), the loader skips the signature check and
// only that check: the search order, the System32-only dependencies and the
// export checks stay. That build is the only one that loads the test double
// (tests/wintun_double); SkipsSignatureCheck() says which build this is, and
// a program built so prints kWintunUnsignedWarning at start.
//
// Ownership: a WintunLibrary keeps the module loaded until it is destroyed;
// every adapter and session made through api() must be gone by then.
// Thread safety: Load from any thread; api() is immutable after Load.
//
// Windows-only (net/ *_win files).

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <array>
#include <memory>
#include <string>

#include "base/result.h"
#include "net/wintun_api_win.h"

namespace zl::net {

inline constexpr char kWintunDownloadUrl[] = "https://www.wintun.net";
inline constexpr char kWintunUnsignedWarning[] =
    "WARNING: this build loads wintun.dll without checking its signature (ZL_WINTUN_ALLOW_UNSIGNED); "
    "it is for tests only and must never be installed";

// The three candidate paths, in search order.
Result<std::array<std::wstring, 3>> WintunSearchPaths();

class WintunLibrary {
 public:
  // ENOENT naming the three paths and https://www.wintun.net when no file
  // exists; EACCES when the signature check refuses it; ENOENT naming the
  // export when one is missing; the Win32 error of a failed load otherwise.
  static Result<std::unique_ptr<WintunLibrary>> Load();
  // True in a ZL_WINTUN_ALLOW_UNSIGNED build.
  static bool SkipsSignatureCheck();

  ~WintunLibrary();
  WintunLibrary(const WintunLibrary&) = delete;
  WintunLibrary& operator=(const WintunLibrary&) = delete;

  const WintunApi& api() const { return api_; }
  // The full path the DLL was loaded from.
  const std::wstring& path() const { return path_; }

 private:
  WintunLibrary(HMODULE module, WintunApi api, std::wstring path)
      : module_(module), api_(api), path_(std::move(path)) {}

  HMODULE module_;
  WintunApi api_;
  std::wstring path_;
};

}  // namespace zl::net
