// Clock on Windows.
//
// BootClock is the interrupt time, which counts from boot and includes the
// time spent in sleep and hibernation (Microsoft's "Interrupt Time" page:
// only the *unbiased* interrupt time leaves that out) -- the equivalent of
// Linux's CLOCK_BOOTTIME. QueryInterruptTimePrecise reads it to the
// microsecond; it exists from Windows 10, and is resolved at run time so
// the program still starts where it is missing (older Windows, wine 8.0).
// There GetTickCount64 is used: the same boot-relative, sleep-including
// count, at the system tick's resolution (10 to 16 ms), ample for
// WireGuard's timers. The unbiased functions (QueryUnbiasedInterruptTime*)
// are deliberately not used: a keypair must expire however long the machine
// slept. The choice is made once per process, so readings never mix.
//
// The wall clock is GetSystemTimePreciseAsFileTime (Windows 8 and later).
#include <windows.h>

#include "base/clock.h"

namespace zl {
namespace {

using QueryInterruptTimeFn = VOID(WINAPI*)(PULONGLONG);

QueryInterruptTimeFn FindQueryInterruptTimePrecise() {
  for (const wchar_t* dll : {L"kernel32.dll", L"kernelbase.dll"}) {
    HMODULE module = GetModuleHandleW(dll);
    if (module == nullptr) continue;
    FARPROC fn = GetProcAddress(module, "QueryInterruptTimePrecise");
    if (fn != nullptr) return reinterpret_cast<QueryInterruptTimeFn>(reinterpret_cast<void*>(fn));
  }
  return nullptr;
}

// 100-ns units since 1601-01-01 (FILETIME) to the Unix epoch.
constexpr ULONGLONG kUnixEpochIn100ns = 116444736000000000ULL;

}  // namespace

BootClock::time_point BootClock::now() noexcept {
  static const QueryInterruptTimeFn precise = FindQueryInterruptTimePrecise();
  if (precise != nullptr) {
    ULONGLONG ticks = 0;  // 100 ns units
    precise(&ticks);
    return time_point(std::chrono::nanoseconds(ticks * 100));
  }
  return time_point(std::chrono::milliseconds(GetTickCount64()));
}

Now SystemClock::Read() const {
  FILETIME ft{};
  GetSystemTimePreciseAsFileTime(&ft);
  const ULONGLONG t = (ULONGLONG(ft.dwHighDateTime) << 32) | ft.dwLowDateTime;
  const auto since_epoch =
      std::chrono::nanoseconds((static_cast<long long>(t) - static_cast<long long>(kUnixEpochIn100ns)) * 100);
  return Now{BootClock::now(), WallTime(since_epoch)};
}

}  // namespace zl
