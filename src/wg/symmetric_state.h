#pragma once
// The Noise symmetric state (Noise spec §5.2, §5.3) for the suite
// 25519_ChaChaPoly_BLAKE2s: the chaining key ck, the handshake hash h and the
// current cipher key k with its nonce n. Internal to wg/: noise.cc drives it
// with WireGuard's constants, noise_test.cc with the standard Noise vector.
//
// Every secret it holds (ck, k) is a crypto::Secret and is wiped on
// destruction; h is wiped too. DecryptAndHash may run in place.
//
// Thread safety: a value; one thread at a time.

#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/aead.h"
#include "crypto/blake2s.h"
#include "crypto/keys.h"

namespace zl::wg {

class SymmetricState {
 public:
  // InitializeSymmetric(protocol_name): h = the name zero-padded to 32 bytes
  // if it fits, else HASH(name); ck = h; no cipher key.
  explicit SymmetricState(std::string_view protocol_name);
  // Resumes a handshake between two messages from its saved (ck, h), with no
  // cipher key (every pattern here starts its next message with a MixKey).
  // REQUIRES: hash.size() == crypto::kHashLen.
  SymmetricState(const crypto::SymmetricKey& chaining_key, ByteSpan hash);
  ~SymmetricState();
  SymmetricState(const SymmetricState&) = delete;
  SymmetricState& operator=(const SymmetricState&) = delete;

  // h = HASH(h || data).
  void MixHash(ByteSpan data);
  // ck, k = HKDF(ck, input_key_material, 2); n = 0.
  void MixKey(ByteSpan input_key_material);
  // ck, tau, k = HKDF(ck, input_key_material, 3); MixHash(tau); n = 0.
  void MixKeyAndHash(ByteSpan input_key_material);
  // The DH tokens (es, ss, ee, se): MixKey(DH(priv, pub)). An all-zero DH
  // result (low-order point) is an error and leaves the state unchanged.
  Result<void> MixDh(const crypto::PrivateKey& priv,
                     const crypto::PublicKey& pub);
  // MixKey of a precomputed DH result (WireGuard caches ss); all zero = error.
  Result<void> MixSharedSecret(const crypto::SharedSecret& dh);

  // out = ENCRYPT(k, n++, h, plaintext) (or plaintext without a key); then
  // MixHash(out). REQUIRES: out.size() == plaintext.size() + tag (no key:
  // out.size() == plaintext.size()); no partial overlap.
  // False only if the AEAD fails; the state is then unspecified.
  bool EncryptAndHash(ByteSpan plaintext, MutableByteSpan out);
  // The inverse. False on an authentication failure, with h, n unchanged.
  // REQUIRES: out.size() == ciphertext.size() - tag (or equal without key).
  bool DecryptAndHash(ByteSpan ciphertext, MutableByteSpan out);

  // Split(): (t1, t2) = HKDF(ck, empty, 2). The initiator sends with t1.
  void Split(crypto::SymmetricKey& t1, crypto::SymmetricKey& t2) const;

  const crypto::SymmetricKey& chaining_key() const { return ck_; }
  const crypto::Hash& hash() const { return h_; }
  bool has_key() const { return has_key_; }
  // Ciphertext length for `plaintext_len` bytes under the current state.
  size_t CiphertextLen(size_t plaintext_len) const {
    return plaintext_len + (has_key_ ? crypto::kAeadTagLen : 0);
  }

 private:
  void SetKeys(crypto::SymmetricKey& ck, crypto::SymmetricKey& k);

  crypto::SymmetricKey ck_;
  crypto::SymmetricKey k_;
  crypto::Hash h_{};
  uint64_t n_ = 0;
  bool has_key_ = false;
  crypto::ChaChaPoly aead_;
};

}  // namespace zl::wg
