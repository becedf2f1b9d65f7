#include "net/winsock_win.h"

#include <mutex>
#include <optional>

#include "net/win32_error_win.h"

namespace zl::net {

Result<void> InitWinsock() {
  static std::once_flag once;
  static std::optional<Error> failure;
  std::call_once(once, [] {
    WSADATA data;
    // WSAStartup returns its error code rather than setting WSAGetLastError.
    const int rc = WSAStartup(MAKEWORD(2, 2), &data);
    if (rc != 0) {
      failure = Win32Error(static_cast<DWORD>(rc), "WSAStartup(2.2)");
    } else if (LOBYTE(data.wVersion) != 2 || HIBYTE(data.wVersion) != 2) {
      WSACleanup();
      failure = MakeError(ENOSYS, "WSAStartup: Winsock 2.2 is not available");
    }
  });
  if (failure) return *failure;
  return Ok();
}

}  // namespace zl::net
