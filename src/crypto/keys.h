#pragma once
// Key types. Secrets (private keys, preshared keys, symmetric keys, DH
// results) live in Secret<N, Tag>: it wipes itself on destruction and on
// move-from, compares in constant time, and has no formatting or printing
// operator, so a secret cannot reach a log by accident. Distinct tags make
// swapped arguments a compile error.
//
// PublicKey is not secret: it prints as base64 (wg(8)'s form) and hex.
//
// Thread safety: values.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/bytes.h"

namespace zl::crypto {

inline constexpr size_t kKeyLen = 32;  // Curve25519 and ChaCha20 keys

// Constant-time equality of two equal-length byte ranges.
bool ConstantTimeEqual(ByteSpan a, ByteSpan b);
// Zeroes memory in a way the compiler cannot elide (OPENSSL_cleanse).
void SecureWipe(void* p, size_t n);

template <size_t N, typename Tag>
class Secret {
 public:
  static constexpr size_t kSize = N;

  Secret() = default;  // all zero
  explicit Secret(ByteSpan bytes) {
    if (bytes.size() == N) std::copy(bytes.begin(), bytes.end(), bytes_.begin());
  }
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  Secret(Secret&& o) noexcept : bytes_(o.bytes_) { o.Wipe(); }
  Secret& operator=(Secret&& o) noexcept {
    if (this != &o) {
      bytes_ = o.bytes_;
      o.Wipe();
    }
    return *this;
  }
  ~Secret() { Wipe(); }

  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  ByteSpan span() const { return ByteSpan(bytes_.data(), N); }
  MutableByteSpan mutable_span() { return MutableByteSpan(bytes_.data(), N); }

  void Wipe() { SecureWipe(bytes_.data(), N); }
  bool IsZero() const { return IsAllZero(span()); }

  friend bool operator==(const Secret& a, const Secret& b) {
    return ConstantTimeEqual(a.span(), b.span());
  }

 private:
  std::array<uint8_t, N> bytes_{};
};

struct PrivateKeyTag;
struct PresharedKeyTag;
struct SymmetricKeyTag;
struct SharedSecretTag;

using PrivateKey = Secret<kKeyLen, PrivateKeyTag>;      // Curve25519 static or ephemeral
using PresharedKey = Secret<kKeyLen, PresharedKeyTag>;  // WireGuard PSK (all zero = none)
using SymmetricKey = Secret<kKeyLen, SymmetricKeyTag>;  // chaining keys, AEAD keys
using SharedSecret = Secret<kKeyLen, SharedSecretTag>;  // X25519 output

// A Curve25519 public key. Public, so printable.
class PublicKey {
 public:
  PublicKey() = default;  // all zero
  explicit PublicKey(ByteSpan bytes) {
    if (bytes.size() == kKeyLen) std::copy(bytes.begin(), bytes.end(), bytes_.begin());
  }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  static constexpr size_t size() { return kKeyLen; }
  ByteSpan span() const { return ByteSpan(bytes_.data(), kKeyLen); }
  bool IsZero() const { return IsAllZero(span()); }
  std::string ToBase64() const { return Base64Encode(span()); }
  std::string ToHex() const { return HexEncode(span()); }

  friend bool operator==(const PublicKey&, const PublicKey&) = default;
  friend auto operator<=>(const PublicKey&, const PublicKey&) = default;

 private:
  std::array<uint8_t, kKeyLen> bytes_{};
};

// Hash for unordered containers keyed by public key.
struct PublicKeyHash {
  size_t operator()(const PublicKey& k) const {
    size_t h = 0;
    for (size_t i = 0; i < sizeof(size_t); ++i) h = (h << 8) | k.data()[i];
    return h;
  }
};

}  // namespace zl::crypto
