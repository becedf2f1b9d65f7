#include "base/result.h"

#include <cstring>

namespace zl {

Error ErrnoError(int err, std::string_view what) {
  char buf[256];
#ifdef _WIN32
  // The CRT's strerror_s fills buf.
  const char* msg = strerror_s(buf, sizeof(buf), err) == 0 ? buf : "unknown error";
#else
  // GNU strerror_r returns the message pointer (maybe not buf).
  const char* msg = strerror_r(err, buf, sizeof(buf));
#endif
  return MakeError(err, std::string(what) + ": " + msg);
}

Error ErrnoError(std::string_view what) { return ErrnoError(errno, what); }

}  // namespace zl
