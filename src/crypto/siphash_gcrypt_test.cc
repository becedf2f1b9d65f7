// On Windows SipHash24 is keyed BLAKE2s truncated to 64 bits
// (siphash_gcrypt.cc); siphash_test.cc checks the PRF properties.
#include <gtest/gtest.h>

#include <vector>

#include "crypto/blake2s.h"
#include "crypto/random.h"
#include "crypto/siphash.h"

namespace zl::crypto {
namespace {

TEST(SipHashGcryptTest, IsKeyedBlake2sTruncatedTo64BitsLittleEndian) {
  DeterministicRng rng(24);
  for (size_t n = 0; n <= 64; ++n) {
    SipHashKey key;
    rng.Fill(MutableByteSpan(key));
    std::vector<uint8_t> data(n);
    rng.Fill(MutableByteSpan(data));
    const Mac mac = Blake2sMac(ByteSpan(key), {ByteSpan(data)});
    EXPECT_EQ(SipHash24(key, ByteSpan(data)), LoadLe64(mac.data())) << n << " bytes";
  }
}

// RFC 7693 keyed BLAKE2s-128 of "abc" under key 00..0f, computed with
// CPython's hashlib.blake2s(b"abc", key=bytes(range(16)), digest_size=16):
// pins the construction to a value computed outside libgcrypt.
TEST(SipHashGcryptTest, MatchesAnIndependentlyComputedValue) {
  SipHashKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = uint8_t(i);
  const uint8_t abc[3] = {'a', 'b', 'c'};
  uint8_t expected[8];
  StoreLe64(expected, SipHash24(key, ByteSpan(abc)));
  EXPECT_EQ(HexEncode(expected), "75296c2d2c0f5121");
}

}  // namespace
}  // namespace zl::crypto
