#include "crypto/blake2s.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace zl::crypto {
namespace {

[[noreturn]] void Die(const char* what) {
  // Only if OpenSSL lacks BLAKE2s or cannot allocate: the handshake cannot
  // run without it and these functions have no error channel by design.
  std::fprintf(stderr, "zl::crypto: fatal: %s\n", what);
  std::abort();
}

// Algorithms are fetched once per process (a fetch is a locked method-store
// lookup); contexts are kept per thread so a call allocates nothing.
const EVP_MD* Blake2sMd() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "BLAKE2S-256", nullptr);
  return md;
}

const EVP_MAC* Blake2sMacAlg() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "BLAKE2SMAC", nullptr);
  return mac;
}

const EVP_MAC* HmacAlg() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

class DigestCtx {
 public:
  DigestCtx() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || Blake2sMd() == nullptr)
      Die("BLAKE2S-256 unavailable");
  }
  ~DigestCtx() { EVP_MD_CTX_free(ctx_); }
  DigestCtx(const DigestCtx&) = delete;
  DigestCtx& operator=(const DigestCtx&) = delete;
  EVP_MD_CTX* get() { return ctx_; }

 private:
  EVP_MD_CTX* ctx_;
};

// An EVP_MAC_CTX whose fixed parameters are set once, at creation, so each
// call only supplies the key.
class MacCtx {
 public:
  MacCtx(const EVP_MAC* mac, const OSSL_PARAM* fixed) {
    ctx_ =
        mac == nullptr ? nullptr : EVP_MAC_CTX_new(const_cast<EVP_MAC*>(mac));
    if (ctx_ == nullptr || EVP_MAC_CTX_set_params(ctx_, fixed) != 1)
      Die("EVP_MAC unavailable");
  }
  ~MacCtx() { EVP_MAC_CTX_free(ctx_); }
  MacCtx(const MacCtx&) = delete;
  MacCtx& operator=(const MacCtx&) = delete;

  // The MAC of `parts` under the key the context holds now; false if it
  // holds none.
  bool ComputeWithHeldKey(ByteSpan part, uint8_t* out, size_t out_len) {
    size_t written = 0;
    return EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1 &&
           EVP_MAC_update(ctx_, part.data(), part.size()) == 1 &&
           EVP_MAC_final(ctx_, out, &written, out_len) == 1;
  }

  void Compute(ByteSpan key, std::initializer_list<ByteSpan> parts,
               uint8_t* out, size_t out_len) {
    // A null key would mean "reuse the previous key" to EVP_MAC_init, so an
    // empty key must still come with a valid pointer.
    static constexpr uint8_t kNoKey[1] = {0};
    const uint8_t* k = key.empty() ? kNoKey : key.data();
    size_t written = 0;
    bool ok = EVP_MAC_init(ctx_, k, key.size(), nullptr) == 1;
    for (ByteSpan p : parts)
      ok = ok && EVP_MAC_update(ctx_, p.data(), p.size()) == 1;
    ok = ok && EVP_MAC_final(ctx_, out, &written, out_len) == 1 &&
         written == out_len;
    if (!ok) Die("EVP_MAC failed");
  }

  // Re-keys the context with 32 zero bytes, so that the key of the last
  // Compute (and the state derived from it) does not stay in OpenSSL's
  // memory. 32 bytes suit both BLAKE2s-MAC (1..32) and HMAC.
  void Wipe() {
    static constexpr uint8_t kZeroKey[32] = {};
    if (EVP_MAC_init(ctx_, kZeroKey, sizeof(kZeroKey), nullptr) != 1)
      Die("EVP_MAC failed");
  }

 private:
  EVP_MAC_CTX* ctx_;
};

}  // namespace

Hash Blake2s(std::initializer_list<ByteSpan> parts) {
  thread_local DigestCtx ctx;
  Hash out;
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex2(ctx.get(), Blake2sMd(), nullptr) == 1;
  for (ByteSpan p : parts)
    ok = ok && EVP_DigestUpdate(ctx.get(), p.data(), p.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1 &&
       len == kHashLen;
  // Back to the initial state: the last input block (Noise hashes the
  // handshake hash and ciphertexts) does not stay in the context.
  ok = ok && EVP_DigestInit_ex2(ctx.get(), Blake2sMd(), nullptr) == 1;
  if (!ok) Die("BLAKE2s failed");
  return out;
}

namespace {

// OSSL_MAC_PARAM_SIZE sets the digest length in BLAKE2s's parameter block
// (RFC 7693 keyed mode with outlen 16), which is what WireGuard's MAC is;
// it is not a truncated 32-byte MAC. blake2s_test checks this.
const OSSL_PARAM* Blake2sMacParams() {
  static size_t size = kMacLen;
  static const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
      OSSL_PARAM_construct_end()};
  return params;
}

const OSSL_PARAM* HmacParams() {
  static char digest[] = "BLAKE2S-256";
  static const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return params;
}

MacCtx& ThreadBlake2sMacCtx() {
  thread_local MacCtx ctx(Blake2sMacAlg(), Blake2sMacParams());
  return ctx;
}

MacCtx& ThreadHmacCtx() {
  thread_local MacCtx ctx(HmacAlg(), HmacParams());
  return ctx;
}

}  // namespace

Mac Blake2sMac(ByteSpan key, std::initializer_list<ByteSpan> parts) {
  if (key.empty() || key.size() > 32)
    Die("Blake2sMac: key must be 1..32 bytes");
  Mac out;
  MacCtx& ctx = ThreadBlake2sMacCtx();
  ctx.Compute(key, parts, out.data(), out.size());
  ctx.Wipe();
  return out;
}

Hash HmacBlake2s(ByteSpan key, std::initializer_list<ByteSpan> parts) {
  Hash out;
  MacCtx& ctx = ThreadHmacCtx();
  ctx.Compute(key, parts, out.data(), out.size());
  ctx.Wipe();
  return out;
}

namespace internal {

bool MacContextsHoldKeyForTesting() {
  static constexpr uint8_t kZeroKey[32] = {};
  static constexpr uint8_t kProbe[] = {'p', 'r', 'o', 'b', 'e'};
  Mac held_mac{}, zero_mac{};
  Hash held_hmac{}, zero_hmac{};
  const bool mac_keyed = ThreadBlake2sMacCtx().ComputeWithHeldKey(
      ByteSpan(kProbe), held_mac.data(), held_mac.size());
  const bool hmac_keyed = ThreadHmacCtx().ComputeWithHeldKey(
      ByteSpan(kProbe), held_hmac.data(), held_hmac.size());
  MacCtx mac_reference(Blake2sMacAlg(), Blake2sMacParams());
  mac_reference.Compute(ByteSpan(kZeroKey), {ByteSpan(kProbe)}, zero_mac.data(),
                        zero_mac.size());
  MacCtx hmac_reference(HmacAlg(), HmacParams());
  hmac_reference.Compute(ByteSpan(kZeroKey), {ByteSpan(kProbe)},
                         zero_hmac.data(), zero_hmac.size());
  return (mac_keyed && held_mac != zero_mac) ||
         (hmac_keyed && held_hmac != zero_hmac);
}

}  // namespace internal

namespace {

// The paper's KDF_n: t0 = HMAC(key, input); t_i = HMAC(t0, t_{i-1} || i)
// with t_0 taken as empty for i = 1. All of t0 is computed before any output
// is written, so an output may alias `key` (Kdf2(ck, x, ck, k) is the
// common call).
void Kdf(const SymmetricKey& key, ByteSpan input, SymmetricKey* const outs[],
         int n) {
  // One wipe of the context at the end, not one per HMAC: the context holds
  // t0 after the last one (after Split, both session keys follow from it).
  MacCtx& hmac = ThreadHmacCtx();
  Hash t0, t{};
  hmac.Compute(key.span(), {input}, t0.data(), t0.size());
  for (int i = 1; i <= n; ++i) {
    const uint8_t counter[1] = {uint8_t(i)};
    if (i == 1) {
      hmac.Compute(t0, {counter}, t.data(), t.size());
    } else {
      hmac.Compute(t0, {t, counter}, t.data(), t.size());
    }
    std::copy(t.begin(), t.end(), outs[i - 1]->data());
  }
  hmac.Wipe();
  SecureWipe(t0.data(), t0.size());
  SecureWipe(t.data(), t.size());
}

}  // namespace

void Kdf1(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1) {
  SymmetricKey* const outs[] = {&t1};
  Kdf(key, input, outs, 1);
}

void Kdf2(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1,
          SymmetricKey& t2) {
  SymmetricKey* const outs[] = {&t1, &t2};
  Kdf(key, input, outs, 2);
}

void Kdf3(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1,
          SymmetricKey& t2, SymmetricKey& t3) {
  SymmetricKey* const outs[] = {&t1, &t2, &t3};
  Kdf(key, input, outs, 3);
}

}  // namespace zl::crypto
