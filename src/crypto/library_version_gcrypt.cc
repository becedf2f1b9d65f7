#include "crypto/library_version.h"

#include <gcrypt.h>

#include "crypto/backend_gcrypt.h"

namespace zl::crypto {

std::string CryptoLibraryVersion() {
  internal::EnsureGcryptInitialized();
  // gcry_check_version(NULL) is the running library's version, "1.10.1".
  const char* version = gcry_check_version(nullptr);
  return std::string("libgcrypt ") + (version != nullptr ? version : "(unknown)");
}

}  // namespace zl::crypto
