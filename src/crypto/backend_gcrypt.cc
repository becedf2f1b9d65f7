#include "crypto/backend_gcrypt.h"

#include <gcrypt.h>

#include <cstdio>
#include <cstdlib>

namespace zl::crypto::internal {

void EnsureGcryptInitialized() {
  static const bool initialized = [] {
    if (gcry_check_version(GCRYPT_VERSION) == nullptr) {
      std::fprintf(stderr, "zl::crypto: fatal: libgcrypt older than %s\n", GCRYPT_VERSION);
      std::abort();
    }
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    return true;
  }();
  (void)initialized;
}

void GcryptDie(const char* what, unsigned int gcry_error) {
  std::fprintf(stderr, "zl::crypto: fatal: %s: %s\n", what, gcry_strerror(gcry_error));
  std::abort();
}

}  // namespace zl::crypto::internal
