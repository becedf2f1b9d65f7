#include "net/win32_error_win.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace zl::net {
namespace {

TEST(Win32ErrorTest, WinsockCodesMapToTheirErrnoValues) {
  struct Case {
    int wsa;
    int err;
  };
  for (const Case& c : {Case{WSAEWOULDBLOCK, EAGAIN}, Case{WSAEADDRINUSE, EADDRINUSE},
                        Case{WSAEMSGSIZE, EMSGSIZE}, Case{WSAENETUNREACH, ENETUNREACH},
                        Case{WSAEHOSTUNREACH, ENETUNREACH}, Case{WSAEAFNOSUPPORT, EAFNOSUPPORT},
                        Case{WSAEADDRNOTAVAIL, EADDRNOTAVAIL}, Case{WSAEINVAL, EINVAL},
                        Case{WSAECONNRESET, ECONNRESET}, Case{WSAENOBUFS, ENOBUFS}}) {
    SCOPED_TRACE(c.wsa);
    EXPECT_EQ(ErrnoFromWin32(static_cast<DWORD>(c.wsa)), c.err);
  }
}

TEST(Win32ErrorTest, WinsockErrorNamesTheCallAndTheWinsockCode) {
  WSASetLastError(WSAEADDRINUSE);
  const Error e = LastWsaError("bind 127.0.0.1:1");
  EXPECT_EQ(e.code(), EADDRINUSE);
  EXPECT_EQ(e.message().rfind("bind 127.0.0.1:1: ", 0), 0u) << e.message();
  EXPECT_NE(e.message().find("(Winsock error 10048)"), std::string::npos) << e.message();
}

TEST(Win32ErrorTest, Win32CodesKeepTheirLabel) {
  const Error e = Win32Error(ERROR_FILE_NOT_FOUND, "open");
  EXPECT_EQ(e.code(), ENOENT);
  EXPECT_NE(e.message().find("(Win32 error 2)"), std::string::npos) << e.message();
}

}  // namespace
}  // namespace zl::net
