#pragma once
// Internal to crypto/: one raw ChaCha20 block from OpenSSL, shared by
// HChaCha20 (aead.cc) and DeterministicRng (random.cc). Not part of the
// layer's API; other layers use aead.h.
//
// Thread safety: thread-safe (one OpenSSL context per thread).

#include <cstdint>

namespace zl::crypto::internal {

// out = the 64-byte ChaCha20 keystream block for `key` and the 16-byte
// OpenSSL IV, which is exactly state words 12..15 (32-bit LE block counter
// then the 96-bit nonce of RFC 8439; or, read as two 64-bit words, the
// original 64-bit counter and 64-bit nonce). Aborts if OpenSSL fails.
// The thread's context is re-keyed with zeros after each block.
void ChaCha20Block(const uint8_t key[32], const uint8_t iv[16],
                   uint8_t out[64]);

// True if this thread's ChaCha20Block context holds a non-zero key. Tests.
bool KeystreamContextHoldsKeyForTesting();

}  // namespace zl::crypto::internal
