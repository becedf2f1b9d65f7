#include "crypto/keys.h"

#include <openssl/crypto.h>

namespace zl::crypto {

bool ConstantTimeEqual(ByteSpan a, ByteSpan b) {
  // Lengths are public (key sizes), so comparing them first leaks nothing.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureWipe(void* p, size_t n) {
  if (n != 0) OPENSSL_cleanse(p, n);
}

}  // namespace zl::crypto
