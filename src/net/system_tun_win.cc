// OpenSystemTun on Windows (system_tun.h). Compiled into each variant of the
// wintun.dll loader library (cmake/windows.cmake), since it loads the DLL
// through that variant.

#include "net/system_tun.h"

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <string>

#include "base/log.h"
#include "net/win_text_win.h"
#include "net/wintun_loader_win.h"
#include "net/wintun_tun_win.h"

namespace zl::net {

Result<std::unique_ptr<TunDevice>> OpenSystemTun(std::string_view name, int mtu) {
  if (WintunLibrary::SkipsSignatureCheck()) LogError(kWintunUnsignedWarning);
  auto library = WintunLibrary::Load();
  if (!library.ok()) return library.error();
  LogVerbose("loaded " + Utf8FromWide((*library)->path()));
  return CreateWintunTun(std::shared_ptr<const WintunLibrary>(std::move(*library)), name, mtu);
}

}  // namespace zl::net
