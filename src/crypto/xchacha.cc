// HChaCha20 and XChaCha20-Poly1305 (aead.h): glue over the backend's
// ChaCha20 block (chacha20.h) and ChaChaPoly, the same for every backend
// (OpenSSL in aead.cc, libgcrypt in aead_gcrypt.cc).
#include "crypto/aead.h"
#include "crypto/chacha20.h"

namespace zl::crypto {

SymmetricKey HChaCha20(const SymmetricKey& key, const uint8_t input[16]) {
  // HChaCha20 is the ChaCha20 block function without the final addition of
  // the input state, keeping words 0..3 and 12..15. OpenSSL's 16-byte IV is
  // exactly words 12..15, so one keystream block minus the initial words
  // (the "expand 32-byte k" constants, and the input) recovers them.
  static constexpr uint32_t kSigma[4] = {0x61707865, 0x3320646e, 0x79622d32,
                                         0x6b206574};
  uint8_t block[64];
  internal::ChaCha20Block(key.data(), input, block);
  SymmetricKey subkey;
  uint8_t* out = subkey.data();
  for (int i = 0; i < 4; ++i) {
    StoreLe32(out + 4 * i, LoadLe32(block + 4 * i) - kSigma[i]);
    StoreLe32(out + 16 + 4 * i,
              LoadLe32(block + 48 + 4 * i) - LoadLe32(input + 4 * i));
  }
  SecureWipe(block, sizeof(block));
  return subkey;
}

bool XChaChaPoly::Seal(const SymmetricKey& key, const uint8_t nonce[kXNonceLen],
                       ByteSpan ad, ByteSpan plaintext, MutableByteSpan out) {
  // draft-irtf-cfrg-xchacha §2.3: subkey from the first 16 nonce bytes, then
  // ChaCha20-Poly1305 with nonce 4 zero bytes || the last 8, which is
  // exactly WireGuard's counter nonce with counter = LE64(nonce[16..24]).
  const SymmetricKey subkey = HChaCha20(key, nonce);
  const bool ok = inner_.Seal(subkey, LoadLe64(nonce + 16), ad, plaintext, out);
  inner_.Wipe();
  return ok;
}

bool XChaChaPoly::Open(const SymmetricKey& key, const uint8_t nonce[kXNonceLen],
                       ByteSpan ad, ByteSpan ciphertext, MutableByteSpan out) {
  const SymmetricKey subkey = HChaCha20(key, nonce);
  const bool ok =
      inner_.Open(subkey, LoadLe64(nonce + 16), ad, ciphertext, out);
  inner_.Wipe();
  return ok;
}

}  // namespace zl::crypto
