#pragma once
// Win32Error: a Win32 error code (from GetLastError, WSAGetLastError, or a
// status a Windows API returns, HRESULTs included) as an Error whose message names the failed call,
// the system's text for the code and the code itself.
//
// The Error's errno value is a close POSIX equivalent (ERROR_FILE_NOT_FOUND ->
// ENOENT, ERROR_ACCESS_DENIED -> EACCES, WSAEWOULDBLOCK -> EAGAIN,
// WSAEADDRINUSE -> EADDRINUSE, ...; EIO when there is none), so callers and
// the UAPI treat Windows failures like Linux ones. Winsock's WSAE* codes are
// in the same space as Win32's and the system has text for them.
//
// Windows-only (net/ *_win files). Thread safety: pure functions.

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <string_view>

#include "base/result.h"

namespace zl::net {

int ErrnoFromWin32(DWORD code);

// "what: <system text> (Win32 error N)"; HRESULT-shaped codes are shown in hex.
Error Win32Error(DWORD code, std::string_view what);
// Win32Error(GetLastError(), what). Call it right after the failed call.
Error LastWin32Error(std::string_view what);
// Win32Error(WSAGetLastError(), what). Call it right after the failed
// Winsock call.
Error LastWsaError(std::string_view what);

}  // namespace zl::net
