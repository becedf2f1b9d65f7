#pragma once
// The directories the Windows code looks things up in, each from the API that
// owns it (never from an environment variable a caller could set):
//   ProgramDataDirectory  SHGetKnownFolderPath(FOLDERID_ProgramData)
//   ExecutablePath        GetModuleFileNameW of the running .exe
//   ExecutableDirectory   its directory
//   CurrentDirectory      GetCurrentDirectoryW
// Paths are UTF-16, without a trailing backslash (except a drive root).
//
// Windows-only (net/ *_win files). Thread safety: any thread; CurrentDirectory
// is process-wide state another thread may change.

#include <string>
#include <string_view>

#include "base/result.h"

namespace zl::net {

Result<std::wstring> ProgramDataDirectory();
Result<std::wstring> ExecutablePath();
Result<std::wstring> ExecutableDirectory();
Result<std::wstring> CurrentDirectory();

// dir + "\" + name, without doubling a backslash dir already ends with.
std::wstring JoinPath(std::wstring_view dir, std::wstring_view name);

}  // namespace zl::net
