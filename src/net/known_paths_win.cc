#include "net/known_paths_win.h"

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>
// After windows.h:
#include <knownfolders.h>
#include <shlobj.h>

#include <vector>

#include "net/win32_error_win.h"

namespace zl::net {
namespace {

void TrimTrailingSeparator(std::wstring& path) {
  // Keep "C:\" whole: it is a directory only with its backslash.
  while (path.size() > 3 && (path.back() == L'\\' || path.back() == L'/')) path.pop_back();
}

}  // namespace

Result<std::wstring> ProgramDataDirectory() {
  wchar_t* raw = nullptr;
  const HRESULT hr = SHGetKnownFolderPath(FOLDERID_ProgramData, KF_FLAG_DEFAULT, nullptr, &raw);
  if (FAILED(hr)) {
    if (raw != nullptr) CoTaskMemFree(raw);
    return Win32Error(static_cast<DWORD>(hr), "SHGetKnownFolderPath(FOLDERID_ProgramData)");
  }
  std::wstring path(raw);
  CoTaskMemFree(raw);
  TrimTrailingSeparator(path);
  return path;
}

Result<std::wstring> ExecutablePath() {
  // Long paths (\\?\ prefixed, up to 32,767 characters) are allowed: grow
  // the buffer until the name fits.
  std::vector<wchar_t> buf(MAX_PATH);
  for (int attempt = 0; attempt < 8; ++attempt) {
    const DWORD n = GetModuleFileNameW(nullptr, buf.data(), static_cast<DWORD>(buf.size()));
    if (n == 0) return LastWin32Error("GetModuleFileNameW");
    if (n < buf.size()) return std::wstring(buf.data(), n);
    buf.resize(buf.size() * 2);
  }
  return MakeError(ENAMETOOLONG, "GetModuleFileNameW: the executable's path is too long");
}

Result<std::wstring> ExecutableDirectory() {
  auto exe = ExecutablePath();
  if (!exe.ok()) return exe.error();
  std::wstring path = std::move(*exe);
  const size_t slash = path.find_last_of(L"\\/");
  if (slash == std::wstring::npos) {
    return MakeError(EINVAL, "GetModuleFileNameW returned a name without a directory");
  }
  path.resize(slash == 2 && path[1] == L':' ? 3 : slash);
  return path;
}

Result<std::wstring> CurrentDirectory() {
  const DWORD needed = GetCurrentDirectoryW(0, nullptr);
  if (needed == 0) return LastWin32Error("GetCurrentDirectoryW");
  std::wstring path(needed, L'\0');
  const DWORD n = GetCurrentDirectoryW(needed, path.data());
  if (n == 0 || n >= needed) return LastWin32Error("GetCurrentDirectoryW");
  path.resize(n);
  TrimTrailingSeparator(path);
  return path;
}

std::wstring JoinPath(std::wstring_view dir, std::wstring_view name) {
  std::wstring out(dir);
  if (!out.empty() && out.back() != L'\\' && out.back() != L'/') out += L'\\';
  out += name;
  return out;
}

}  // namespace zl::net
