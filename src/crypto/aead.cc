#include "crypto/aead.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "crypto/chacha20.h"

namespace zl::crypto {
namespace {

[[noreturn]] void Die(const char* what) {
  // Reached only if OpenSSL lacks ChaCha20, which a supported build never
  // does; a function that returns a key has no other honest way to fail.
  std::fprintf(stderr, "zl::crypto: fatal: %s\n", what);
  std::abort();
}

// Fetched once per process: a fetch is a locked method-store lookup, far
// too slow to repeat per packet.
const EVP_CIPHER* ChaChaPolyCipher() {
  static EVP_CIPHER* const cipher =
      EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return cipher;
}

const EVP_CIPHER* ChaCha20Cipher() {
  static EVP_CIPHER* const cipher =
      EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
  return cipher;
}

// WireGuard's nonce: 32 zero bits, then the counter little-endian.
void CounterNonce(uint64_t counter, uint8_t nonce[kAeadNonceLen]) {
  std::memset(nonce, 0, 4);
  StoreLe64(nonce + 4, counter);
}

// OpenSSL takes int lengths; anything larger is a caller bug, not a packet.
bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

constexpr uint8_t kZeros[64] = {};

// A raw ChaCha20 context, set up with the cipher once per thread so each
// block only sets key and IV (passing the cipher again would reset it).
class KeystreamCtx {
 public:
  KeystreamCtx() : ctx_(EVP_CIPHER_CTX_new()) {
    if (ctx_ == nullptr || ChaCha20Cipher() == nullptr ||
        EVP_EncryptInit_ex2(ctx_, ChaCha20Cipher(), nullptr, nullptr,
                            nullptr) != 1) {
      Die("ChaCha20 unavailable");
    }
  }
  ~KeystreamCtx() { EVP_CIPHER_CTX_free(ctx_); }
  KeystreamCtx(const KeystreamCtx&) = delete;
  KeystreamCtx& operator=(const KeystreamCtx&) = delete;

  // Leaves the context keyed with zeros: the key does not stay behind.
  void Block(const uint8_t key[32], const uint8_t iv[16], uint8_t out[64]) {
    static constexpr uint8_t kZeroKey[32] = {};
    int len = 0;
    if (EVP_EncryptInit_ex2(ctx_, nullptr, key, iv, nullptr) != 1 ||
        EVP_EncryptUpdate(ctx_, out, &len, kZeros, sizeof(kZeros)) != 1 ||
        len != 64 ||
        EVP_EncryptInit_ex2(ctx_, nullptr, kZeroKey, nullptr, nullptr) != 1) {
      Die("ChaCha20 keystream failed");
    }
  }

  // The block of the key the context holds now, at a zero IV.
  void ProbeBlock(uint8_t out[64]) {
    static constexpr uint8_t kZeroIv[16] = {};
    int len = 0;
    if (EVP_EncryptInit_ex2(ctx_, nullptr, nullptr, kZeroIv, nullptr) != 1 ||
        EVP_EncryptUpdate(ctx_, out, &len, kZeros, sizeof(kZeros)) != 1) {
      Die("ChaCha20 keystream failed");
    }
  }

 private:
  EVP_CIPHER_CTX* ctx_;
};

}  // namespace

namespace internal {

KeystreamCtx& ThreadKeystreamCtx() {
  thread_local KeystreamCtx ctx;
  return ctx;
}

void ChaCha20Block(const uint8_t key[32], const uint8_t iv[16],
                   uint8_t out[64]) {
  ThreadKeystreamCtx().Block(key, iv, out);
}

bool KeystreamContextHoldsKeyForTesting() {
  static constexpr uint8_t kZeroIv[16] = {};
  uint8_t held[64], zero[64];
  ThreadKeystreamCtx().ProbeBlock(held);
  KeystreamCtx reference;
  reference.Block(kZeros, kZeroIv, zero);
  return std::memcmp(held, zero, sizeof(held)) != 0;
}

}  // namespace internal

struct ChaChaPoly::Impl {
  EVP_CIPHER_CTX* ctx = nullptr;
  // The key `ctx` holds, valid while `keyed`. Setting a key costs about a
  // third of a short message's seal (EVP looks the key length up by name on
  // every init), and the engine uses one key for runs of packets, so a call
  // with the same key only sets the nonce.
  SymmetricKey key;
  bool keyed = false;

  // Sets `k` (unless `ctx` holds it already) and `nonce`, for sealing if
  // `enc` is 1 and opening if 0.
  bool Start(const SymmetricKey& k, const uint8_t nonce[kAeadNonceLen], int enc) {
    const bool same = keyed && k == key;  // constant time
    keyed = false;  // until the context is known to hold `k`
    if (EVP_CipherInit_ex2(ctx, nullptr, same ? nullptr : k.data(), nonce, enc,
                           nullptr) != 1) {
      return false;
    }
    if (!same) key = k;
    keyed = true;
    return true;
  }

  void Forget() {
    key.Wipe();
    keyed = false;
  }
};

ChaChaPoly::ChaChaPoly() : impl_(std::make_unique<Impl>()) {
  // The only allocation: the context lives as long as the object, and each
  // call below sets its nonce (and its key when that changed).
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx != nullptr && ChaChaPolyCipher() != nullptr &&
      EVP_CipherInit_ex2(ctx, ChaChaPolyCipher(), nullptr, nullptr, 1,
                         nullptr) == 1) {
    impl_->ctx = ctx;
  } else {
    EVP_CIPHER_CTX_free(ctx);  // Seal/Open then report failure
  }
}

ChaChaPoly::~ChaChaPoly() {
  // OpenSSL clears the provider context when it frees it; wiping first does
  // not depend on that.
  Wipe();
  EVP_CIPHER_CTX_free(impl_->ctx);
}

void ChaChaPoly::Wipe() {
  static constexpr uint8_t kZeroKey[32] = {};
  static constexpr uint8_t kZeroNonce[kAeadNonceLen] = {};
  EVP_CIPHER_CTX* ctx = impl_->ctx;
  impl_->Forget();
  if (ctx == nullptr) return;
  // A zero key, then one block: the one-time Poly1305 key and the keystream
  // left in the context are the zero key's, which tell nothing.
  uint8_t scratch[64];
  int len = 0;
  if (EVP_CipherInit_ex2(ctx, nullptr, kZeroKey, kZeroNonce, 1, nullptr) != 1 ||
      EVP_CipherUpdate(ctx, scratch, &len, kZeros, sizeof(kZeros)) != 1 ||
      EVP_CipherFinal_ex(ctx, scratch, &len) != 1) {
    // Never the case for a working context; a context that cannot be
    // re-keyed is dropped rather than left holding a key.
    EVP_CIPHER_CTX_free(ctx);
    impl_->ctx = nullptr;
  }
}

bool ChaChaPoly::HoldsKeyForTesting() {
  static constexpr uint8_t kNonce[kAeadNonceLen] = {};
  static constexpr uint8_t kZeroKey[32] = {};
  EVP_CIPHER_CTX* ctx = impl_->ctx;
  uint8_t held[64], zero[64];
  int len = 0;
  if (ctx == nullptr ||
      EVP_CipherInit_ex2(ctx, nullptr, nullptr, kNonce, 1, nullptr) != 1 ||
      EVP_CipherUpdate(ctx, held, &len, kZeros, sizeof(kZeros)) != 1) {
    return true;  // cannot tell
  }
  EVP_CIPHER_CTX* reference = EVP_CIPHER_CTX_new();
  const bool ok =
      reference != nullptr &&
      EVP_CipherInit_ex2(reference, ChaChaPolyCipher(), kZeroKey, kNonce, 1,
                         nullptr) == 1 &&
      EVP_CipherUpdate(reference, zero, &len, kZeros, sizeof(kZeros)) == 1;
  EVP_CIPHER_CTX_free(reference);
  return !ok || std::memcmp(held, zero, sizeof(held)) != 0;
}

bool ChaChaPoly::Seal(const SymmetricKey& key, uint64_t counter, ByteSpan ad,
                      ByteSpan plaintext, MutableByteSpan out) {
  uint8_t nonce[kAeadNonceLen];
  CounterNonce(counter, nonce);
  return SealWithNonce(key, nonce, ad, plaintext, out);
}

bool ChaChaPoly::Open(const SymmetricKey& key, uint64_t counter, ByteSpan ad,
                      ByteSpan ciphertext, MutableByteSpan out) {
  uint8_t nonce[kAeadNonceLen];
  CounterNonce(counter, nonce);
  return OpenWithNonce(key, nonce, ad, ciphertext, out);
}

bool ChaChaPoly::SealWithNonce(const SymmetricKey& key,
                               const uint8_t nonce[kAeadNonceLen], ByteSpan ad,
                               ByteSpan plaintext, MutableByteSpan out) {
  EVP_CIPHER_CTX* ctx = impl_->ctx;
  const size_t n = plaintext.size();
  if (ctx == nullptr || out.size() < n + kAeadTagLen || !FitsInt(n) ||
      !FitsInt(ad.size())) {
    return false;
  }
  int len = 0;
  if (!impl_->Start(key, nonce, 1)) return false;
  if (!ad.empty() &&
      EVP_CipherUpdate(ctx, nullptr, &len, ad.data(), int(ad.size())) != 1) {
    return false;
  }
  if (n != 0 &&
      (EVP_CipherUpdate(ctx, out.data(), &len, plaintext.data(), int(n)) != 1 ||
       size_t(len) != n)) {
    return false;
  }
  if (EVP_CipherFinal_ex(ctx, out.data() + n, &len) != 1) return false;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                        out.data() + n, kAeadTagLen),
      OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(ctx, params) == 1;
}

bool ChaChaPoly::OpenWithNonce(const SymmetricKey& key,
                               const uint8_t nonce[kAeadNonceLen], ByteSpan ad,
                               ByteSpan ciphertext, MutableByteSpan out) {
  EVP_CIPHER_CTX* ctx = impl_->ctx;
  if (ctx == nullptr || ciphertext.size() < kAeadTagLen) return false;
  const size_t n = ciphertext.size() - kAeadTagLen;
  if (out.size() < n || !FitsInt(n) || !FitsInt(ad.size())) return false;
  // OSSL_PARAM wants a mutable buffer and `ciphertext` is const; 16 bytes.
  uint8_t tag[kAeadTagLen];
  std::memcpy(tag, ciphertext.data() + n, kAeadTagLen);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(
                             OSSL_CIPHER_PARAM_AEAD_TAG, tag, kAeadTagLen),
                         OSSL_PARAM_construct_end()};
  int len = 0;
  bool ok =
      impl_->Start(key, nonce, 0) &&
      EVP_CIPHER_CTX_set_params(ctx, params) == 1 &&
      (ad.empty() ||
       EVP_CipherUpdate(ctx, nullptr, &len, ad.data(), int(ad.size())) == 1) &&
      (n == 0 || (EVP_CipherUpdate(ctx, out.data(), &len, ciphertext.data(),
                                   int(n)) == 1 &&
                  size_t(len) == n)) &&
      EVP_CipherFinal_ex(ctx, out.data() + n, &len) == 1;
  // Never hand back unauthenticated plaintext, even by accident.
  if (!ok && n != 0) std::memset(out.data(), 0, n);
  return ok;
}

}  // namespace zl::crypto
