// DeterministicRng against libsodium, an independent oracle. Linux only:
// Debian has no libsodium for mingw.
#include <gtest/gtest.h>
#include <sodium.h>

#include <vector>

#include "crypto/random.h"

namespace zl::crypto {
namespace {

// The stream is the original ChaCha20 (64-bit counter from 0, zero 64-bit
// nonce) keyed by LE64(seed) || 24 zero bytes; libsodium computes it too.
TEST(DeterministicRngTest, IsChaCha20KeystreamKeyedBySeed) {
  ASSERT_GE(sodium_init(), 0);
  constexpr uint64_t kSeed = 0x0123456789abcdef;
  DeterministicRng rng(kSeed);
  std::vector<uint8_t> ours(64 * 5 + 3);
  rng.Fill(ours);
  uint8_t key[crypto_stream_chacha20_KEYBYTES] = {};
  StoreLe64(key, kSeed);
  const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {};
  std::vector<uint8_t> theirs(ours.size());
  crypto_stream_chacha20(theirs.data(), theirs.size(), nonce, key);
  EXPECT_EQ(HexEncode(ours), HexEncode(theirs));
}

}  // namespace
}  // namespace zl::crypto
