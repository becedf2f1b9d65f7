#pragma once
// ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce (32 zero bits then the
// 64-bit little-endian counter), XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha)
// and HChaCha20, on OpenSSL 3.
//
// The EVP cipher is fetched once per process; each ChaChaPoly/XChaChaPoly owns
// one EVP_CIPHER_CTX that is reused for every call (no per-packet fetch, no
// per-packet allocation). With OpenSSL (aead.cc) the context is re-keyed
// only when a call's key differs from the previous call's (compared in
// constant time); otherwise only the nonce is set. OpenSSL keeps a context's
// last key in it, and ChaChaPoly keeps a copy to compare with: a ChaChaPoly
// keeps both until Wipe() or destruction (its owner decides when, e.g. the
// engine after keys are erased and every tick); XChaChaPoly and HChaCha20
// wipe their contexts after every call.
//
// Thread safety: an object is used by one thread at a time; give each worker
// its own.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/bytes.h"
#include "crypto/keys.h"

namespace zl::crypto {

inline constexpr size_t kAeadTagLen = 16;
inline constexpr size_t kXNonceLen = 24;
inline constexpr size_t kAeadNonceLen = 12;  // RFC 8439 §2.8

class ChaChaPoly {
 public:
  ChaChaPoly();
  ~ChaChaPoly();
  ChaChaPoly(const ChaChaPoly&) = delete;
  ChaChaPoly& operator=(const ChaChaPoly&) = delete;

  // Encrypts `plaintext` into `out` and appends the 16-byte tag.
  // REQUIRES: out.size() >= plaintext.size() + kAeadTagLen. `out` may equal
  // `plaintext` exactly (in place) but must not otherwise overlap it.
  // Returns false only if OpenSSL fails.
  bool Seal(const SymmetricKey& key, uint64_t counter, ByteSpan ad, ByteSpan plaintext,
            MutableByteSpan out);
  // Decrypts `ciphertext` (which ends in the tag) into `out` and checks the
  // tag. REQUIRES: ciphertext.size() >= kAeadTagLen and out.size() >=
  // ciphertext.size() - kAeadTagLen; in place allowed as for Seal. False on
  // a bad tag; `out` is then unspecified.
  bool Open(const SymmetricKey& key, uint64_t counter, ByteSpan ad, ByteSpan ciphertext,
            MutableByteSpan out);

  // The same with an arbitrary 96-bit RFC 8439 nonce (WireGuard's nonce is the
  // special case 4 zero bytes || LE64(counter)); for known-answer tests and
  // protocols that need other nonce layouts.
  bool SealWithNonce(const SymmetricKey& key, const uint8_t nonce[kAeadNonceLen], ByteSpan ad,
                     ByteSpan plaintext, MutableByteSpan out);
  bool OpenWithNonce(const SymmetricKey& key, const uint8_t nonce[kAeadNonceLen], ByteSpan ad,
                     ByteSpan ciphertext, MutableByteSpan out);

  // OpenSSL keeps the last key (and the last message's one-time Poly1305 key
  // and keystream) in the context after a call. Wipe() re-keys it with an
  // all-zero key and runs one block through it, and erases the copy of the
  // last key, so nothing of an earlier key is left; Seal/Open work as before
  // afterwards (the next call sets its key in full). About one block's work.
  void Wipe();

  // True if the context's current key is not all zero (it encrypts a probe
  // block with whatever key the context holds and compares). Tests only.
  bool HoldsKeyForTesting();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HChaCha20(key, 16-byte input) -> 32-byte subkey. Built on OpenSSL's ChaCha20
// keystream (the only hand-written piece of cryptography allowed; see
// docs/ARCHITECTURE.md).
SymmetricKey HChaCha20(const SymmetricKey& key, const uint8_t input[16]);

// Each call leaves no key in its contexts (it wipes them after use): it is
// used rarely (cookie replies), so that costs nothing that matters.
class XChaChaPoly {
 public:
  // Same contract as ChaChaPoly::Seal/Open, with a 24-byte nonce.
  bool Seal(const SymmetricKey& key, const uint8_t nonce[kXNonceLen], ByteSpan ad,
            ByteSpan plaintext, MutableByteSpan out);
  bool Open(const SymmetricKey& key, const uint8_t nonce[kXNonceLen], ByteSpan ad,
            ByteSpan ciphertext, MutableByteSpan out);
  bool HoldsKeyForTesting() { return inner_.HoldsKeyForTesting(); }

 private:
  ChaChaPoly inner_;
};

}  // namespace zl::crypto
