// SipHash24 is SipHash-2-4: the paper's vector and OpenSSL's SipHash as an
// oracle. Linux only (the OpenSSL backend); siphash_test.cc has the
// properties every backend keeps.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <vector>

#include "crypto/random.h"
#include "crypto/siphash.h"

namespace zl::crypto {
namespace {

SipHashKey SequentialKey() {
  SipHashKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = uint8_t(i);
  return key;
}

// OpenSSL's SipHash-2-4 with an 8-byte output, read as the little-endian
// 64-bit value it encodes.
uint64_t OpenSslSipHash(const SipHashKey& key, ByteSpan data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
  size_t size = 8;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
      OSSL_PARAM_construct_end()};
  uint8_t out[8] = {};
  size_t written = 0;
  const bool ok = ctx != nullptr &&
                  EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
                  EVP_MAC_update(ctx, data.data(), data.size()) == 1 &&
                  EVP_MAC_final(ctx, out, &written, sizeof(out)) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  EXPECT_TRUE(ok && written == 8);
  return LoadLe64(out);
}

TEST(SipHashTest, MatchesThePapersExample) {
  // SipHash paper, appendix A: key 00..0f, message 00..0e.
  std::vector<uint8_t> message(15);
  for (size_t i = 0; i < message.size(); ++i) message[i] = uint8_t(i);
  EXPECT_EQ(SipHash24(SequentialKey(), ByteSpan(message)),
            0xa129ca6149be45e5ULL);
}

TEST(SipHashTest, MatchesOpenSslForEveryLengthUpTo64) {
  DeterministicRng rng(5);
  for (size_t n = 0; n <= 64; ++n) {
    SipHashKey key;
    rng.Fill(MutableByteSpan(key));
    std::vector<uint8_t> data(n);
    rng.Fill(MutableByteSpan(data));
    EXPECT_EQ(SipHash24(key, ByteSpan(data)),
              OpenSslSipHash(key, ByteSpan(data)))
        << n << " bytes";
  }
}

}  // namespace
}  // namespace zl::crypto
