// What every SipHash24 backend guarantees: a keyed PRF, deterministic for one
// key. The known answers of SipHash-2-4 itself (OpenSSL) are in
// siphash_openssl_test.cc; Windows's keyed-BLAKE2s stand-in is checked in
// siphash_gcrypt_test.cc.
#include "crypto/siphash.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace zl::crypto {
namespace {

SipHashKey SequentialKey() {
  SipHashKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = uint8_t(i);
  return key;
}

TEST(SipHashTest, DependsOnTheKey) {
  const uint8_t data[9] = {4, 192, 0, 2, 1};
  SipHashKey other = SequentialKey();
  other[15] ^= 1;
  EXPECT_NE(SipHash24(SequentialKey(), ByteSpan(data)),
            SipHash24(other, ByteSpan(data)));
}

TEST(SipHashTest, IsDeterministicForOneKey) {
  const uint8_t data[16] = {0xfd, 0, 0, 0, 0, 0, 0, 1};
  const uint64_t first = SipHash24(SequentialKey(), ByteSpan(data));
  EXPECT_EQ(SipHash24(SequentialKey(), ByteSpan(data)), first);
  EXPECT_NE(SipHash24(SequentialKey(), ByteSpan(data, 15)), first);
}

// 256 keys that differ in one bit each give 256 different outputs for the
// same input (a PRF collides on 64 bits with probability ~2^-49 here).
TEST(SipHashTest, DifferentKeysGiveDifferentOutputs) {
  const uint8_t data[9] = {4, 198, 51, 100, 7};
  std::set<uint64_t> outputs;
  for (int bit = 0; bit < 128; ++bit) {
    for (uint8_t base : {0x00, 0xff}) {
      SipHashKey key;
      key.fill(base);
      key[bit / 8] ^= uint8_t(1u << (bit % 8));
      outputs.insert(SipHash24(key, ByteSpan(data)));
    }
  }
  EXPECT_EQ(outputs.size(), 256u);
}

}  // namespace
}  // namespace zl::crypto
