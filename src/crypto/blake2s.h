#pragma once
// BLAKE2s (RFC 7693) and the constructions WireGuard builds on it: HASH,
// keyed MAC (16-byte output), HMAC-BLAKE2s (RFC 2104), and the Noise HKDF
// with 1, 2 or 3 outputs. On OpenSSL 3 (BLAKE2S-256, BLAKE2SMAC, HMAC),
// fetched once per process.
//
// Thread safety: free functions, thread-safe.

#include <array>
#include <cstdint>
#include <initializer_list>

#include "base/bytes.h"
#include "crypto/keys.h"

namespace zl::crypto {

inline constexpr size_t kHashLen = 32;
inline constexpr size_t kMacLen = 16;

using Hash = std::array<uint8_t, kHashLen>;
using Mac = std::array<uint8_t, kMacLen>;

// BLAKE2s-256 of the concatenation of `parts`.
Hash Blake2s(std::initializer_list<ByteSpan> parts);
// Keyed BLAKE2s with a 16-byte output (WireGuard's MAC). key: 1..32 bytes.
Mac Blake2sMac(ByteSpan key, std::initializer_list<ByteSpan> parts);
// HMAC-BLAKE2s-256.
Hash HmacBlake2s(ByteSpan key, std::initializer_list<ByteSpan> parts);

// Noise HKDF (the paper's KDF_n): t0 = HMAC(key, input); t1 = HMAC(t0, 0x1);
// t2 = HMAC(t0, t1 || 0x2); t3 = HMAC(t0, t2 || 0x3).
void Kdf1(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1);
void Kdf2(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1, SymmetricKey& t2);
void Kdf3(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1, SymmetricKey& t2,
          SymmetricKey& t3);

namespace internal {
// True if this thread's BLAKE2s-MAC or HMAC context still holds a key that
// is not all zero (each computes a probe MAC with the key it holds and
// compares). The functions above re-key their contexts with zeros after each
// use, so that the last KDF key (after Split, t0: both session keys follow
// from it) or the cookie secret does not stay in OpenSSL's memory. Tests.
bool MacContextsHoldKeyForTesting();
}  // namespace internal

}  // namespace zl::crypto
