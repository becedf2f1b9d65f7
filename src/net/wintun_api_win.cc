#include "net/wintun_api_win.h"

#include <fmt/format.h>

namespace zl::net {
namespace {

// Stores GetProcAddress(module, name) in `slot`, or adds `name` to `missing`.
template <typename Fn>
void Resolve(HMODULE module, const char* name, Fn& slot, std::string& missing) {
  FARPROC proc = GetProcAddress(module, name);
  if (proc == nullptr) {
    if (!missing.empty()) missing += ", ";
    missing += name;
    return;
  }
  slot = reinterpret_cast<Fn>(reinterpret_cast<void*>(proc));
}

}  // namespace

Result<void> CheckWintunRingCapacity(uint32_t capacity) {
  const bool power_of_two = capacity != 0 && (capacity & (capacity - 1)) == 0;
  if (!power_of_two || capacity < kWintunMinRingCapacity || capacity > kWintunMaxRingCapacity) {
    return MakeError(EINVAL, fmt::format("Wintun ring capacity {:#x} is not a power of two from {:#x} to {:#x}",
                                         capacity, kWintunMinRingCapacity, kWintunMaxRingCapacity));
  }
  return Ok();
}

const std::vector<std::string>& WintunExportNames() {
  static const std::vector<std::string> names = {
      "WintunCreateAdapter",      "WintunOpenAdapter",      "WintunCloseAdapter",
      "WintunDeleteDriver",       "WintunGetAdapterLUID",   "WintunGetRunningDriverVersion",
      "WintunSetLogger",          "WintunStartSession",     "WintunEndSession",
      "WintunGetReadWaitEvent",   "WintunReceivePacket",    "WintunReleaseReceivePacket",
      "WintunAllocateSendPacket", "WintunSendPacket"};
  return names;
}

Result<WintunApi> ResolveWintunApi(HMODULE module) {
  WintunApi api;
  std::string missing;
  const auto& n = WintunExportNames();
  Resolve(module, n[0].c_str(), api.CreateAdapter, missing);
  Resolve(module, n[1].c_str(), api.OpenAdapter, missing);
  Resolve(module, n[2].c_str(), api.CloseAdapter, missing);
  Resolve(module, n[3].c_str(), api.DeleteDriver, missing);
  Resolve(module, n[4].c_str(), api.GetAdapterLuid, missing);
  Resolve(module, n[5].c_str(), api.GetRunningDriverVersion, missing);
  Resolve(module, n[6].c_str(), api.SetLogger, missing);
  Resolve(module, n[7].c_str(), api.StartSession, missing);
  Resolve(module, n[8].c_str(), api.EndSession, missing);
  Resolve(module, n[9].c_str(), api.GetReadWaitEvent, missing);
  Resolve(module, n[10].c_str(), api.ReceivePacket, missing);
  Resolve(module, n[11].c_str(), api.ReleaseReceivePacket, missing);
  Resolve(module, n[12].c_str(), api.AllocateSendPacket, missing);
  Resolve(module, n[13].c_str(), api.SendPacket, missing);
  if (!missing.empty()) {
    return MakeError(ENOENT, "wintun.dll lacks the export(s) " + missing +
                                 ": it is not Wintun 0.14 or later (https://www.wintun.net)");
  }
  return api;
}

}  // namespace zl::net
