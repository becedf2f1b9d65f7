#pragma once
// WintunApi: the functions of wintun.dll (Wintun 0.14's API, the wintun.h of
// https://www.wintun.net), resolved from a loaded module, and Wintun's limits.
//
// The table holds plain function pointers into the module; whoever loaded the
// module (wintun_loader_win.h's WintunLibrary, or a test) keeps it loaded for
// as long as the table, and every adapter and session made through it, lives.
// Wintun's functions are thread-safe as documented in wintun.h (packet
// receive/release and allocate/send may be called from any thread).
//
// Windows-only (net/ *_win files).

#include <winsock2.h>
#include <windows.h>
#include <ws2ipdef.h>
// After the above: NET_LUID, MAX_ADAPTER_NAME.
#include <ifdef.h>
#include <ipexport.h>  // MAX_ADAPTER_NAME

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace zl::net {

// Opaque handles of wintun.h (WINTUN_ADAPTER_HANDLE, WINTUN_SESSION_HANDLE).
struct WintunAdapterObject;
struct WintunSessionObject;
using WintunAdapterHandle = WintunAdapterObject*;
using WintunSessionHandle = WintunSessionObject*;

// wintun.h's WINTUN_LOGGER_LEVEL.
enum WintunLogLevel : int { kWintunLogInfo = 0, kWintunLogWarn = 1, kWintunLogError = 2 };
using WintunLoggerCallback = void(CALLBACK*)(WintunLogLevel level, DWORD64 timestamp, LPCWSTR message);

// Ring capacity limits and the largest packet (wintun.h: WINTUN_MIN_RING_CAPACITY,
// WINTUN_MAX_RING_CAPACITY, WINTUN_MAX_IP_PACKET_SIZE). A capacity must also be
// a power of two.
inline constexpr uint32_t kWintunMinRingCapacity = 0x20000;   // 128 KiB
inline constexpr uint32_t kWintunMaxRingCapacity = 0x4000000;  // 64 MiB
inline constexpr uint32_t kWintunMaxIpPacketSize = 0xFFFF;
// Our session's ring: 4 MiB, as wireguard-go's (tun_windows.go, ringCapacity).
inline constexpr uint32_t kWintunRingCapacity = 0x400000;

// EINVAL unless `capacity` is a power of two within Wintun's limits.
Result<void> CheckWintunRingCapacity(uint32_t capacity);

struct WintunApi {
  WintunAdapterHandle(WINAPI* CreateAdapter)(LPCWSTR name, LPCWSTR tunnel_type, const GUID* requested_guid) =
      nullptr;
  WintunAdapterHandle(WINAPI* OpenAdapter)(LPCWSTR name) = nullptr;
  // Closes the handle; removes the adapter if this handle created it.
  void(WINAPI* CloseAdapter)(WintunAdapterHandle adapter) = nullptr;
  BOOL(WINAPI* DeleteDriver)() = nullptr;
  void(WINAPI* GetAdapterLuid)(WintunAdapterHandle adapter, NET_LUID* luid) = nullptr;
  // (major << 16) | minor; 0 with GetLastError() on failure.
  DWORD(WINAPI* GetRunningDriverVersion)() = nullptr;
  void(WINAPI* SetLogger)(WintunLoggerCallback logger) = nullptr;
  WintunSessionHandle(WINAPI* StartSession)(WintunAdapterHandle adapter, DWORD capacity) = nullptr;
  void(WINAPI* EndSession)(WintunSessionHandle session) = nullptr;
  // Auto-reset; owned by the session (never CloseHandle it).
  HANDLE(WINAPI* GetReadWaitEvent)(WintunSessionHandle session) = nullptr;
  BYTE*(WINAPI* ReceivePacket)(WintunSessionHandle session, DWORD* size) = nullptr;
  void(WINAPI* ReleaseReceivePacket)(WintunSessionHandle session, const BYTE* packet) = nullptr;
  BYTE*(WINAPI* AllocateSendPacket)(WintunSessionHandle session, DWORD size) = nullptr;
  void(WINAPI* SendPacket)(WintunSessionHandle session, const BYTE* packet) = nullptr;
};

// The export names, in WintunApi's order.
const std::vector<std::string>& WintunExportNames();

// Resolves every export with GetProcAddress. ENOENT naming each missing export
// when any is absent (a DLL older than Wintun 0.14, or not Wintun at all).
Result<WintunApi> ResolveWintunApi(HMODULE module);

}  // namespace zl::net
