// ConstantTimeEqual and SecureWipe (keys.h) on Windows; keys.cc is the
// OpenSSL version (CRYPTO_memcmp, OPENSSL_cleanse).
#include <windows.h>

#include "crypto/keys.h"

namespace zl::crypto {

bool ConstantTimeEqual(ByteSpan a, ByteSpan b) {
  // Lengths are public (key sizes), so comparing them first leaks nothing.
  if (a.size() != b.size()) return false;
  // Every byte is read whatever the data; the volatile accumulator keeps the
  // compiler from turning the loop into an early-exit compare.
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = uint8_t(diff | (a[i] ^ b[i]));
  return diff == 0;
}

void SecureWipe(void* p, size_t n) {
  // SecureZeroMemory is never optimised away (winbase.h).
  if (n != 0) SecureZeroMemory(p, n);
}

}  // namespace zl::crypto
