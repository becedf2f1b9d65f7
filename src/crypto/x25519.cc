#include "crypto/x25519.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>

namespace zl::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using UniquePkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// Imports raw X25519 key material; either half may be null (not both). A
// private half without a public one makes OpenSSL compute the public key.
// One import context per thread: creating one fetches the key manager, too
// slow to repeat per handshake.
UniquePkey Import(int selection, const uint8_t* priv, const uint8_t* pub) {
  thread_local const UniquePkeyCtx ctx = [] {
    UniquePkeyCtx c(EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr));
    if (c != nullptr && EVP_PKEY_fromdata_init(c.get()) != 1) c.reset();
    return c;
  }();
  if (ctx == nullptr) return nullptr;
  // OSSL_PARAM takes mutable pointers, but an import only reads them.
  OSSL_PARAM params[3];
  OSSL_PARAM* p = params;
  if (priv != nullptr) {
    *p++ = OSSL_PARAM_construct_octet_string(
        OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(priv), kKeyLen);
  }
  if (pub != nullptr) {
    *p++ = OSSL_PARAM_construct_octet_string(
        OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(pub), kKeyLen);
  }
  *p = OSSL_PARAM_construct_end();
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &pkey, selection, params) != 1)
    return nullptr;
  return UniquePkey(pkey);
}

// The private key for the exchange only. Loading a private key alone makes
// OpenSSL compute its public key, a second scalar multiplication that would
// double the cost of every X25519 (and halve handshakes/s). The exchange
// reads only the private half, so the key is loaded as a pair with a
// placeholder public half; the object never leaves this file.
UniquePkey PrivatePkeyForExchange(const PrivateKey& priv) {
  static constexpr uint8_t kPlaceholderPub[kKeyLen] = {
      9};  // the base point; never read
  return Import(EVP_PKEY_KEYPAIR, priv.data(), kPlaceholderPub);
}

}  // namespace

Result<PublicKey> DerivePublicKey(const PrivateKey& priv) {
  const UniquePkey pkey = Import(EVP_PKEY_KEYPAIR, priv.data(), nullptr);
  PublicKey pub;
  size_t len = kKeyLen;
  if (pkey == nullptr ||
      EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) != 1 ||
      len != kKeyLen) {
    return MakeError(EIO, "X25519: OpenSSL could not derive the public key");
  }
  return pub;
}

Result<SharedSecret> X25519(const PrivateKey& priv, const PublicKey& pub) {
  const UniquePkey mine = PrivatePkeyForExchange(priv);
  const UniquePkey theirs = Import(EVP_PKEY_PUBLIC_KEY, nullptr, pub.data());
  if (mine == nullptr || theirs == nullptr) {
    return MakeError(EIO, "X25519: OpenSSL could not load the keys");
  }
  const UniquePkeyCtx ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, mine.get(), nullptr));
  // validate_peer = 0: every 32-byte string is a valid X25519 input
  // (RFC 7748 §5); the check that matters is the all-zero output below.
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx.get(), theirs.get(), 0) != 1) {
    return MakeError(EIO, "X25519: OpenSSL could not set up the derivation");
  }
  SharedSecret out;
  size_t len = kKeyLen;
  // OpenSSL itself refuses an all-zero result (a low-order peer point), so
  // a failure here is that case; the explicit check keeps the guarantee
  // independent of the provider.
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != kKeyLen ||
      out.IsZero()) {
    return MakeError(EINVAL,
                     "X25519: low-order public key (all-zero shared secret)");
  }
  return out;
}

}  // namespace zl::crypto
