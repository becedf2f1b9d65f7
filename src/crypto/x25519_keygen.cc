// Private-key clamping and generation (x25519.h), the same for every backend
// (OpenSSL in x25519.cc, libgcrypt in x25519_gcrypt.cc).
#include "crypto/x25519.h"

namespace zl::crypto {

void ClampPrivateKey(PrivateKey& key) {
  uint8_t* k = key.data();
  k[0] &= 248;  // a multiple of the cofactor 8: no small-subgroup leak
  k[31] &= 127;
  k[31] |= 64;  // fixed top bit: constant-time ladder length
}

PrivateKey GeneratePrivateKey(Rng& rng) {
  PrivateKey key;
  rng.Fill(key.mutable_span());
  ClampPrivateKey(key);
  return key;
}

}  // namespace zl::crypto
