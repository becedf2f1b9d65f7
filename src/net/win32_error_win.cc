#include "net/win32_error_win.h"

#include <cerrno>
#include <string>

#include "net/win_text_win.h"

namespace zl::net {

int ErrnoFromWin32(DWORD code) {
  switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_MOD_NOT_FOUND:
    case ERROR_PROC_NOT_FOUND:
    case ERROR_NOT_FOUND:
      return ENOENT;
    case ERROR_ACCESS_DENIED:
      return EACCES;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
    case ERROR_OBJECT_ALREADY_EXISTS:
      return EEXIST;
    case ERROR_INVALID_PARAMETER:
    case ERROR_INVALID_NAME:
      return EINVAL;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
      return ENOMEM;
    case ERROR_BUSY:
    case ERROR_SHARING_VIOLATION:
      return EBUSY;
    case ERROR_HANDLE_EOF:
    case ERROR_DEVICE_NOT_CONNECTED:
      return ENODEV;
    case ERROR_BUFFER_OVERFLOW:
      return ENOBUFS;
    case ERROR_NOT_SUPPORTED:
      return ENOTSUP;
    case ERROR_BROKEN_PIPE:
    case ERROR_NO_DATA:
    case ERROR_PIPE_NOT_CONNECTED:
      return EPIPE;
    case ERROR_PIPE_BUSY:
      return EBUSY;
    case ERROR_OPERATION_ABORTED:
      return ECANCELED;
    case ERROR_INVALID_OWNER:
    case ERROR_PRIVILEGE_NOT_HELD:
      return EPERM;
    // Winsock.
    case WSAEWOULDBLOCK:
      return EAGAIN;
    case WSAEINTR:
      return EINTR;
    case WSAEACCES:
      return EACCES;
    case WSAEFAULT:
      return EFAULT;
    case WSAEINVAL:
      return EINVAL;
    case WSAEMFILE:
      return EMFILE;
    case WSAENOTSOCK:
      return ENOTSOCK;
    case WSAEMSGSIZE:
      return EMSGSIZE;
    case WSAEPROTONOSUPPORT:
      return EPROTONOSUPPORT;
    case WSAEOPNOTSUPP:
      return EOPNOTSUPP;
    case WSAEPFNOSUPPORT:
    case WSAEAFNOSUPPORT:
      return EAFNOSUPPORT;
    case WSAEADDRINUSE:
      return EADDRINUSE;
    case WSAEADDRNOTAVAIL:
      return EADDRNOTAVAIL;
    case WSAENETDOWN:
      return ENETDOWN;
    case WSAENETUNREACH:
    case WSAEHOSTUNREACH:
      return ENETUNREACH;
    case WSAENETRESET:
      return ENETRESET;
    case WSAECONNRESET:
      return ECONNRESET;
    case WSAENOBUFS:
      return ENOBUFS;
    case WSAESHUTDOWN:
      return EPIPE;
    case WSASYSNOTREADY:
    case WSAVERNOTSUPPORTED:
    case WSANOTINITIALISED:
      return ENOSYS;
    default:
      return EIO;
  }
}

Error Win32Error(DWORD code, std::string_view what) {
  wchar_t* text = nullptr;
  const DWORD n = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, code, 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  std::string message(what);
  message += ": ";
  if (n > 0 && text != nullptr) {
    std::wstring_view view(text, n);
    while (!view.empty() && (view.back() == L'\r' || view.back() == L'\n' || view.back() == L' ' ||
                             view.back() == L'.')) {
      view.remove_suffix(1);
    }
    message += Utf8FromWide(view);
  } else {
    message += "unknown error";
  }
  if (text != nullptr) LocalFree(text);
  char code_text[32];
  if (code & 0x80000000u) {
    snprintf(code_text, sizeof(code_text), " (error 0x%08lX)", static_cast<unsigned long>(code));
  } else if (code >= WSABASEERR && code < WSABASEERR + 2000) {
    snprintf(code_text, sizeof(code_text), " (Winsock error %lu)", static_cast<unsigned long>(code));
  } else {
    snprintf(code_text, sizeof(code_text), " (Win32 error %lu)", static_cast<unsigned long>(code));
  }
  message += code_text;
  return MakeError(ErrnoFromWin32(code), std::move(message));
}

Error LastWin32Error(std::string_view what) { return Win32Error(GetLastError(), what); }

Error LastWsaError(std::string_view what) {
  return Win32Error(static_cast<DWORD>(WSAGetLastError()), what);
}

}  // namespace zl::net
