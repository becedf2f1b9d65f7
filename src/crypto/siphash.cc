#include "crypto/siphash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>

namespace zl::crypto {
namespace {

// OpenSSL's SipHash, fetched once; each thread keeps one context and re-keys
// it per call (a context per call would cost an allocation and a fetch).
EVP_MAC* SipHashAlg() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  return mac;
}

struct CtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

EVP_MAC_CTX* ThreadCtx() {
  thread_local std::unique_ptr<EVP_MAC_CTX, CtxDeleter> ctx(
      SipHashAlg() != nullptr ? EVP_MAC_CTX_new(SipHashAlg()) : nullptr);
  return ctx.get();
}

}  // namespace

uint64_t SipHash24(const SipHashKey& key, ByteSpan data) {
  EVP_MAC_CTX* ctx = ThreadCtx();
  if (ctx == nullptr) return 0;
  unsigned int size = 8, c_rounds = 2, d_rounds = 4;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_SIZE, &size),
      OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &c_rounds),
      OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &d_rounds),
      OSSL_PARAM_construct_end(),
  };
  uint8_t out[8] = {};
  size_t out_len = 0;
  if (EVP_MAC_init(ctx, key.data(), key.size(), params) != 1 ||
      EVP_MAC_update(ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx, out, &out_len, sizeof(out)) != 1 || out_len != sizeof(out)) {
    return 0;
  }
  return LoadLe64(out);
}

}  // namespace zl::crypto
