// X25519 (x25519.h) on libgcrypt: gcry_ecc_mul_point on GCRY_ECC_CURVE25519,
// which is RFC 7748's function (scalar clamped, u's top bit ignored). The
// Windows backend; x25519.cc is the OpenSSL one, x25519_keygen.cc the part
// both share.
#include <gcrypt.h>

#include "crypto/backend_gcrypt.h"
#include "crypto/x25519.h"

namespace zl::crypto {

Result<PublicKey> DerivePublicKey(const PrivateKey& priv) {
  internal::EnsureGcryptInitialized();
  PublicKey pub;
  // A null point means the base point, u = 9.
  if (gcry_ecc_mul_point(GCRY_ECC_CURVE25519, pub.data(), priv.data(), nullptr) != 0) {
    return MakeError(EIO, "X25519: libgcrypt could not derive the public key");
  }
  return pub;
}

Result<SharedSecret> X25519(const PrivateKey& priv, const PublicKey& pub) {
  internal::EnsureGcryptInitialized();
  SharedSecret out;
  // libgcrypt may refuse a degenerate point itself; either way the result
  // must not be the all-zero secret of a low-order point.
  if (gcry_ecc_mul_point(GCRY_ECC_CURVE25519, out.data(), priv.data(), pub.data()) != 0 ||
      out.IsZero()) {
    out.Wipe();
    return MakeError(EINVAL, "X25519: low-order public key (all-zero shared secret)");
  }
  return out;
}

}  // namespace zl::crypto
