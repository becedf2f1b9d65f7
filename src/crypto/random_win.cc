// SystemRng on Windows: BCryptGenRandom with the system-preferred RNG, the
// OS CSPRNG (bcrypt.dll). random_linux.cc is the getrandom(2) version.
#include <windows.h>
// windows.h first: bcrypt.h needs its types.
#include <bcrypt.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "crypto/random.h"

namespace zl::crypto {

void SystemRng::Fill(MutableByteSpan out) {
  size_t done = 0;
  while (done < out.size()) {
    // BCryptGenRandom takes a ULONG length: large fills go in pieces.
    const ULONG n = ULONG(std::min<size_t>(out.size() - done, ULONG_MAX));
    if (!BCRYPT_SUCCESS(
            BCryptGenRandom(nullptr, out.data() + done, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
      // Without randomness there is no safe way to continue (keys, indices
      // and nonces would repeat), so fail loudly rather than return weak bytes.
      std::fprintf(stderr, "zl::crypto: fatal: BCryptGenRandom failed\n");
      std::abort();
    }
    done += n;
  }
}

}  // namespace zl::crypto
