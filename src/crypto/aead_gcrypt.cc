// ChaChaPoly and the raw ChaCha20 block (aead.h, chacha20.h) on libgcrypt:
// GCRY_CIPHER_CHACHA20 in GCRY_CIPHER_MODE_POLY1305 (RFC 8439's AEAD) and in
// stream mode. The Windows backend; aead.cc is the OpenSSL one, and
// xchacha.cc builds HChaCha20 and XChaChaPoly on either.
//
// Like the OpenSSL backend, a handle is opened once and re-keyed per call,
// and keeps the last key until Wipe() or destruction; the keystream handle
// is re-keyed with zeros after every block. gcry_cipher_close wipes a handle's
// memory before freeing it.
#include <gcrypt.h>

#include <cstring>

#include "crypto/aead.h"
#include "crypto/backend_gcrypt.h"
#include "crypto/chacha20.h"

namespace zl::crypto {
namespace {

using internal::GcryptDie;

constexpr uint8_t kZeros[64] = {};
constexpr uint8_t kZeroKey[32] = {};

// WireGuard's nonce: 32 zero bits, then the counter little-endian.
void CounterNonce(uint64_t counter, uint8_t nonce[kAeadNonceLen]) {
  std::memset(nonce, 0, 4);
  StoreLe64(nonce + 4, counter);
}

gcry_cipher_hd_t OpenChaCha20(int mode) {
  internal::EnsureGcryptInitialized();
  gcry_cipher_hd_t hd = nullptr;
  if (gcry_error_t e = gcry_cipher_open(&hd, GCRY_CIPHER_CHACHA20, mode, 0); e != 0) {
    GcryptDie("ChaCha20 unavailable", e);
  }
  return hd;
}

// A raw ChaCha20 handle (stream mode). The 16-byte IV is the whole of state
// words 12..15, block counter included, as OpenSSL's.
class KeystreamCtx {
 public:
  KeystreamCtx() : hd_(OpenChaCha20(GCRY_CIPHER_MODE_STREAM)) {
    if (gcry_error_t e = gcry_cipher_setkey(hd_, kZeroKey, sizeof(kZeroKey)); e != 0) {
      GcryptDie("ChaCha20 setkey failed", e);
    }
  }
  ~KeystreamCtx() { gcry_cipher_close(hd_); }
  KeystreamCtx(const KeystreamCtx&) = delete;
  KeystreamCtx& operator=(const KeystreamCtx&) = delete;

  // Leaves the handle keyed with zeros: the key does not stay behind.
  void Block(const uint8_t key[32], const uint8_t iv[16], uint8_t out[64]) {
    gcry_error_t e = gcry_cipher_setkey(hd_, key, 32);
    if (e == 0) e = gcry_cipher_setiv(hd_, iv, 16);
    if (e == 0) e = gcry_cipher_encrypt(hd_, out, 64, kZeros, sizeof(kZeros));
    if (e == 0) e = gcry_cipher_setkey(hd_, kZeroKey, sizeof(kZeroKey));
    if (e != 0) GcryptDie("ChaCha20 keystream failed", e);
  }

 private:
  gcry_cipher_hd_t hd_;
};

// The first 64 bytes of ciphertext of zeros under the key `hd` holds, at
// the zero nonce: tells whether that key is the zero key.
bool ProbeAead(gcry_cipher_hd_t hd, uint8_t out[64]) {
  static constexpr uint8_t kNonce[kAeadNonceLen] = {};
  return gcry_cipher_setiv(hd, kNonce, sizeof(kNonce)) == 0 &&
         gcry_cipher_encrypt(hd, out, 64, kZeros, sizeof(kZeros)) == 0;
}

}  // namespace

namespace internal {

// A handle per call, not one per thread: a thread_local object with a
// destructor crashes at thread exit in mingw-w64 programs (seen under wine:
// heap corruption in about one run of five with 4 threads). The handle is
// closed (and so wiped) before the call returns.
void ChaCha20Block(const uint8_t key[32], const uint8_t iv[16], uint8_t out[64]) {
  KeystreamCtx ctx;
  ctx.Block(key, iv, out);
}

bool KeystreamContextHoldsKeyForTesting() { return false; }  // no handle outlives a call

}  // namespace internal

struct ChaChaPoly::Impl {
  gcry_cipher_hd_t hd = nullptr;
};

ChaChaPoly::ChaChaPoly() : impl_(std::make_unique<Impl>()) {
  impl_->hd = OpenChaCha20(GCRY_CIPHER_MODE_POLY1305);
  Wipe();  // a defined (zero) key from the start
}

ChaChaPoly::~ChaChaPoly() {
  Wipe();
  gcry_cipher_close(impl_->hd);  // wipes the handle's memory too
}

void ChaChaPoly::Wipe() {
  // A zero key, then one block: the one-time Poly1305 key and the keystream
  // left in the handle are the zero key's, which tell nothing.
  uint8_t scratch[64];
  if (impl_->hd == nullptr ||
      gcry_cipher_setkey(impl_->hd, kZeroKey, sizeof(kZeroKey)) != 0 ||
      !ProbeAead(impl_->hd, scratch)) {
    // Never the case for a working handle; one that cannot be re-keyed is
    // dropped rather than left holding a key.
    gcry_cipher_close(impl_->hd);
    impl_->hd = nullptr;
  }
}

bool ChaChaPoly::HoldsKeyForTesting() {
  uint8_t held[64], zero[64];
  if (impl_->hd == nullptr || !ProbeAead(impl_->hd, held)) return true;  // cannot tell
  gcry_cipher_hd_t reference = OpenChaCha20(GCRY_CIPHER_MODE_POLY1305);
  const bool ok = gcry_cipher_setkey(reference, kZeroKey, sizeof(kZeroKey)) == 0 &&
                  ProbeAead(reference, zero);
  gcry_cipher_close(reference);
  return !ok || std::memcmp(held, zero, sizeof(held)) != 0;
}

bool ChaChaPoly::Seal(const SymmetricKey& key, uint64_t counter, ByteSpan ad, ByteSpan plaintext,
                      MutableByteSpan out) {
  uint8_t nonce[kAeadNonceLen];
  CounterNonce(counter, nonce);
  return SealWithNonce(key, nonce, ad, plaintext, out);
}

bool ChaChaPoly::Open(const SymmetricKey& key, uint64_t counter, ByteSpan ad, ByteSpan ciphertext,
                      MutableByteSpan out) {
  uint8_t nonce[kAeadNonceLen];
  CounterNonce(counter, nonce);
  return OpenWithNonce(key, nonce, ad, ciphertext, out);
}

bool ChaChaPoly::SealWithNonce(const SymmetricKey& key, const uint8_t nonce[kAeadNonceLen],
                               ByteSpan ad, ByteSpan plaintext, MutableByteSpan out) {
  gcry_cipher_hd_t hd = impl_->hd;
  const size_t n = plaintext.size();
  if (hd == nullptr || out.size() < n + kAeadTagLen) return false;
  if (gcry_cipher_setkey(hd, key.data(), key.size()) != 0 ||
      gcry_cipher_setiv(hd, nonce, kAeadNonceLen) != 0) {
    return false;
  }
  if (!ad.empty() && gcry_cipher_authenticate(hd, ad.data(), ad.size()) != 0) return false;
  if (n != 0) {
    // In place when out is plaintext (a null input means in place).
    const bool in_place = out.data() == plaintext.data();
    if (gcry_cipher_encrypt(hd, out.data(), n, in_place ? nullptr : plaintext.data(),
                            in_place ? 0 : n) != 0) {
      return false;
    }
  }
  return gcry_cipher_gettag(hd, out.data() + n, kAeadTagLen) == 0;
}

bool ChaChaPoly::OpenWithNonce(const SymmetricKey& key, const uint8_t nonce[kAeadNonceLen],
                               ByteSpan ad, ByteSpan ciphertext, MutableByteSpan out) {
  gcry_cipher_hd_t hd = impl_->hd;
  if (hd == nullptr || ciphertext.size() < kAeadTagLen) return false;
  const size_t n = ciphertext.size() - kAeadTagLen;
  if (out.size() < n) return false;
  // The tag is read before an in-place decryption overwrites nothing of it
  // (it lies past the n bytes decrypted), but copy it for clarity.
  uint8_t tag[kAeadTagLen];
  std::memcpy(tag, ciphertext.data() + n, kAeadTagLen);
  const bool in_place = out.data() == ciphertext.data();
  bool ok = gcry_cipher_setkey(hd, key.data(), key.size()) == 0 &&
            gcry_cipher_setiv(hd, nonce, kAeadNonceLen) == 0 &&
            (ad.empty() || gcry_cipher_authenticate(hd, ad.data(), ad.size()) == 0) &&
            (n == 0 || gcry_cipher_decrypt(hd, out.data(), n, in_place ? nullptr : ciphertext.data(),
                                           in_place ? 0 : n) == 0) &&
            gcry_cipher_checktag(hd, tag, kAeadTagLen) == 0;
  // Never hand back unauthenticated plaintext, even by accident.
  if (!ok && n != 0) std::memset(out.data(), 0, n);
  return ok;
}

}  // namespace zl::crypto
