// SystemRng on Linux: getrandom(2), the kernel CSPRNG.
#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "crypto/random.h"

namespace zl::crypto {
namespace {

[[noreturn]] void Die(const char* what) {
  // Without randomness there is no safe way to continue (keys, indices and
  // nonces would repeat), so fail loudly rather than return weak bytes.
  std::fprintf(stderr, "zl::crypto: fatal: %s\n", what);
  std::abort();
}

}  // namespace

void SystemRng::Fill(MutableByteSpan out) {
  size_t done = 0;
  while (done < out.size()) {
    // getrandom may return fewer bytes than asked (large requests, signals).
    const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      Die("getrandom failed");
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace zl::crypto
