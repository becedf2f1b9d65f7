#include "net/wintun_loader_win.h"

#include <fmt/format.h>

#include "base/log.h"
#include "net/known_paths_win.h"
#include "net/unique_handle_win.h"
#include "net/win32_error_win.h"
#include "net/win_text_win.h"
#include "net/wintun_signature_win.h"

namespace zl::net {
namespace {

#ifdef ZL_WINTUN_ALLOW_UNSIGNED
constexpr bool kSkipSignatureCheck = true;
#else
constexpr bool kSkipSignatureCheck = false;
#endif

constexpr wchar_t kDllName[] = L"wintun.dll";

bool IsFile(const std::wstring& path) {
  const DWORD attributes = GetFileAttributesW(path.c_str());
  return attributes != INVALID_FILE_ATTRIBUTES && !(attributes & FILE_ATTRIBUTE_DIRECTORY);
}

void CALLBACK ForwardWintunLog(WintunLogLevel level, DWORD64 /*timestamp*/, LPCWSTR message) {
  const std::string text = "wintun: " + Utf8FromWide(message != nullptr ? message : L"");
  Log(level == kWintunLogInfo ? LogLevel::kVerbose : LogLevel::kError, text);
}

std::string MissingMessage(const std::array<std::wstring, 3>& paths) {
  return fmt::format(
      "wintun.dll not found; looked in this order at {}, {} and {}. Download Wintun from {} and "
      "install its wintun.dll (for this machine's architecture) at the first path",
      Utf8FromWide(paths[0]), Utf8FromWide(paths[1]), Utf8FromWide(paths[2]), kWintunDownloadUrl);
}

}  // namespace

Result<std::array<std::wstring, 3>> WintunSearchPaths() {
  auto program_data = ProgramDataDirectory();
  if (!program_data.ok()) return program_data.error().Wrap("finding wintun.dll");
  auto exe_dir = ExecutableDirectory();
  if (!exe_dir.ok()) return exe_dir.error().Wrap("finding wintun.dll");
  auto cwd = CurrentDirectory();
  if (!cwd.ok()) return cwd.error().Wrap("finding wintun.dll");
  return std::array<std::wstring, 3>{
      JoinPath(JoinPath(JoinPath(*program_data, L"ZLayer"), L"wintun"), kDllName),
      JoinPath(*exe_dir, kDllName), JoinPath(*cwd, kDllName)};
}

bool WintunLibrary::SkipsSignatureCheck() { return kSkipSignatureCheck; }

Result<std::unique_ptr<WintunLibrary>> WintunLibrary::Load() {
  auto paths = WintunSearchPaths();
  if (!paths.ok()) return paths.error();
  const std::wstring* found = nullptr;
  for (const std::wstring& candidate : *paths) {
    if (IsFile(candidate)) {
      found = &candidate;
      break;
    }
  }
  if (found == nullptr) return MakeError(ENOENT, MissingMessage(*paths));
  const std::wstring& path = *found;
  const std::string path_utf8 = Utf8FromWide(path);

  // Held until the module is loaded: no one can write, replace or delete the
  // file between the check and the load.
  UniqueHandle file(CreateFileW(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                                FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!file.valid()) return LastWin32Error("opening " + path_utf8);
  if constexpr (!kSkipSignatureCheck) {
    ZL_RETURN_IF_ERROR(VerifyWintunSignature(path, file.get()));
  }
  HMODULE module = LoadLibraryExW(path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (module == nullptr) return LastWin32Error("LoadLibraryExW(" + path_utf8 + ")");
  file.Reset();

  auto api = ResolveWintunApi(module);
  if (!api.ok()) {
    FreeLibrary(module);
    return api.error().Wrap(path_utf8);
  }
  api->SetLogger(&ForwardWintunLog);
  LogVerbose("loaded " + path_utf8 +
             (kSkipSignatureCheck ? " (signature NOT checked: ZL_WINTUN_ALLOW_UNSIGNED)" : ""));
  return std::unique_ptr<WintunLibrary>(new WintunLibrary(module, *api, path));
}

WintunLibrary::~WintunLibrary() {
  api_.SetLogger(nullptr);
  FreeLibrary(module_);
}

}  // namespace zl::net
