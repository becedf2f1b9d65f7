#include "wg/symmetric_state.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "crypto/x25519.h"

namespace zl::wg {

using crypto::SymmetricKey;

SymmetricState::SymmetricState(std::string_view protocol_name) {
  ByteSpan name(reinterpret_cast<const uint8_t*>(protocol_name.data()),
                protocol_name.size());
  if (name.size() <= crypto::kHashLen) {
    std::copy(name.begin(), name.end(), h_.begin());
  } else {
    h_ = crypto::Blake2s({name});
  }
  ck_ = SymmetricKey(ByteSpan(h_));
}

SymmetricState::SymmetricState(const SymmetricKey& chaining_key, ByteSpan hash)
    : ck_(chaining_key) {
  std::copy_n(hash.begin(), std::min(hash.size(), h_.size()), h_.begin());
}

SymmetricState::~SymmetricState() { crypto::SecureWipe(h_.data(), h_.size()); }

void SymmetricState::MixHash(ByteSpan data) {
  h_ = crypto::Blake2s({ByteSpan(h_), data});
}

void SymmetricState::SetKeys(SymmetricKey& ck, SymmetricKey& k) {
  ck_ = std::move(ck);
  k_ = std::move(k);
  n_ = 0;
  has_key_ = true;
}

void SymmetricState::MixKey(ByteSpan input_key_material) {
  SymmetricKey ck, k;
  crypto::Kdf2(ck_, input_key_material, ck, k);
  SetKeys(ck, k);
}

void SymmetricState::MixKeyAndHash(ByteSpan input_key_material) {
  SymmetricKey ck, tau, k;
  crypto::Kdf3(ck_, input_key_material, ck, tau, k);
  MixHash(tau.span());
  SetKeys(ck, k);
}

Result<void> SymmetricState::MixSharedSecret(const crypto::SharedSecret& dh) {
  if (dh.IsZero()) return MakeError(EINVAL, "Diffie-Hellman result is zero");
  MixKey(dh.span());
  return Ok();
}

Result<void> SymmetricState::MixDh(const crypto::PrivateKey& priv,
                                   const crypto::PublicKey& pub) {
  Result<crypto::SharedSecret> dh = crypto::X25519(priv, pub);
  if (!dh.ok()) return dh.error();
  return MixSharedSecret(*dh);
}

bool SymmetricState::EncryptAndHash(ByteSpan plaintext, MutableByteSpan out) {
  if (out.size() != CiphertextLen(plaintext.size())) return false;
  if (has_key_) {
    if (!aead_.Seal(k_, n_, ByteSpan(h_), plaintext, out)) return false;
    ++n_;
  } else if (out.data() != plaintext.data()) {
    std::copy(plaintext.begin(), plaintext.end(), out.begin());
  }
  MixHash(out);
  return true;
}

bool SymmetricState::DecryptAndHash(ByteSpan ciphertext, MutableByteSpan out) {
  if (ciphertext.size() != CiphertextLen(out.size())) return false;
  // Hash the ciphertext first: `out` may overwrite it.
  const crypto::Hash next_h = crypto::Blake2s({ByteSpan(h_), ciphertext});
  if (has_key_) {
    if (!aead_.Open(k_, n_, ByteSpan(h_), ciphertext, out)) return false;
    ++n_;
  } else if (out.data() != ciphertext.data()) {
    std::copy(ciphertext.begin(), ciphertext.end(), out.begin());
  }
  h_ = next_h;
  return true;
}

void SymmetricState::Split(SymmetricKey& t1, SymmetricKey& t2) const {
  crypto::Kdf2(ck_, ByteSpan(), t1, t2);
}

}  // namespace zl::wg
