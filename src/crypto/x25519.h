#pragma once
// X25519 (RFC 7748) on OpenSSL 3.
//
// Thread safety: free functions, thread-safe.

#include "base/result.h"
#include "crypto/keys.h"
#include "crypto/random.h"

namespace zl::crypto {

// Clamps a private key as RFC 7748 §5 / the WireGuard paper require.
void ClampPrivateKey(PrivateKey& key);
// A fresh clamped private key.
PrivateKey GeneratePrivateKey(Rng& rng);
// The public key of `priv`. Errors only if OpenSSL fails.
Result<PublicKey> DerivePublicKey(const PrivateKey& priv);
// X25519(priv, pub). An all-zero result (a low-order `pub`) is an error
// (EINVAL), as the WireGuard paper requires.
Result<SharedSecret> X25519(const PrivateKey& priv, const PublicKey& pub);

}  // namespace zl::crypto
