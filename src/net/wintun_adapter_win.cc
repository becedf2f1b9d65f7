#include "net/wintun_adapter_win.h"

#include <fmt/format.h>

#include "base/log.h"
#include "net/win32_error_win.h"
#include "net/win_text_win.h"

namespace zl::net {

Result<std::unique_ptr<WintunAdapter>> WintunAdapter::Open(const WintunApi& api, std::string_view name,
                                                           const WintunAdapterOptions& options) {
  if (name.empty() || name.size() >= MAX_ADAPTER_NAME) {
    return MakeError(EINVAL, fmt::format("a Wintun adapter name must have 1 to {} characters", MAX_ADAPTER_NAME - 1));
  }
  ZL_RETURN_IF_ERROR(CheckWintunRingCapacity(options.ring_capacity));
  const std::wstring wide_name = WideFromUtf8(name);
  bool created = false;
  WintunAdapterHandle handle = api.OpenAdapter(wide_name.c_str());
  if (handle == nullptr) {
    const DWORD open_error = GetLastError();
    handle = api.CreateAdapter(wide_name.c_str(), WideFromUtf8(options.pool).c_str(), nullptr);
    if (handle == nullptr) {
      const DWORD create_error = GetLastError();
      return Win32Error(create_error, fmt::format("creating Wintun adapter {} in pool {} (opening it failed: {})",
                                                  name, options.pool,
                                                  Win32Error(open_error, "WintunOpenAdapter").message()));
    }
    created = true;
  }
  std::unique_ptr<WintunAdapter> adapter(new WintunAdapter(api, handle, std::string(name), created));

  adapter->driver_version_ = api.GetRunningDriverVersion();
  if (adapter->driver_version_ == 0) {
    LogError(LastWin32Error("WintunGetRunningDriverVersion").message());
  } else {
    LogVerbose(fmt::format("Wintun adapter {} {}, driver version {}.{}", name, created ? "created" : "opened",
                           adapter->driver_version_ >> 16, adapter->driver_version_ & 0xFFFF));
  }
  NET_LUID luid{};
  api.GetAdapterLuid(handle, &luid);
  adapter->luid_ = luid.Value;

  auto session = WintunSession::Start(api, handle, options.ring_capacity);
  if (!session.ok()) return session.error().Wrap(fmt::format("Wintun adapter {}", name));
  adapter->session_ = std::move(*session);
  return adapter;
}

WintunAdapter::~WintunAdapter() {
  session_.reset();            // 1. end the session
  api_.CloseAdapter(handle_);  // 2. close (and remove, if we created it)
}

}  // namespace zl::net
