// ChaChaPoly, XChaChaPoly and HChaCha20 against libsodium, an independent
// oracle, on random inputs. Linux only: Debian has no libsodium for mingw
// (the known-answer tests in aead_test.cc run on every platform).
#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <functional>
#include <vector>

#include "crypto/aead.h"
#include "crypto/random.h"

namespace zl::crypto {
namespace {

// A Seal or Open bound to a key and nonce: (ad, input, output) -> ok.
using AeadFn = std::function<bool(ByteSpan, ByteSpan, MutableByteSpan)>;

struct RandomCase {
  SymmetricKey key;
  std::vector<uint8_t> ad;
  std::vector<uint8_t> plaintext;
};

// Lengths cover 0, a few bytes, block boundaries and more than an MTU.
RandomCase MakeCase(Rng& rng, int i) {
  RandomCase c;
  rng.Fill(c.key.mutable_span());
  size_t len = rng.Uniform(2049);
  if (i % 50 == 0) len = 0;
  if (i % 50 == 1) len = 1500 + rng.Uniform(600);
  c.plaintext.resize(len);
  rng.Fill(c.plaintext);
  c.ad.resize(i % 7 == 0 ? 0 : rng.Uniform(100));
  rng.Fill(c.ad);
  return c;
}

// Our Seal must give the oracle's bytes and our Open must accept them; the
// wrong key material (`open_other`, another counter or nonce) and every
// single-bit change to tag, ciphertext or AD must make Open fail.
void CrossCheck(Rng& rng, const RandomCase& c, const AeadFn& seal,
                const AeadFn& oracle_seal, const AeadFn& open,
                const AeadFn& open_other) {
  std::vector<uint8_t> ours(c.plaintext.size() + kAeadTagLen);
  std::vector<uint8_t> theirs(ours.size());
  ASSERT_TRUE(seal(c.ad, c.plaintext, ours));
  ASSERT_TRUE(oracle_seal(c.ad, c.plaintext, theirs));
  ASSERT_EQ(ours, theirs) << "len " << c.plaintext.size();

  std::vector<uint8_t> out(c.plaintext.size());
  ASSERT_TRUE(open(c.ad, theirs, out));
  ASSERT_EQ(out, c.plaintext);
  EXPECT_FALSE(open_other(c.ad, theirs, out)) << "wrong nonce accepted";

  auto flip = [&rng](uint8_t& b) { b ^= uint8_t(1u << rng.Uniform(8)); };
  std::vector<uint8_t> bad = ours;
  flip(bad[c.plaintext.size() + rng.Uniform(kAeadTagLen)]);
  EXPECT_FALSE(open(c.ad, bad, out)) << "tampered tag accepted";
  if (!c.plaintext.empty()) {
    bad = ours;
    flip(bad[rng.Uniform(c.plaintext.size())]);
    EXPECT_FALSE(open(c.ad, bad, out)) << "tampered ciphertext accepted";
  }
  std::vector<uint8_t> bad_ad = c.ad;
  if (bad_ad.empty()) {
    bad_ad.push_back(0);
  } else {
    flip(bad_ad[rng.Uniform(bad_ad.size())]);
  }
  EXPECT_FALSE(open(bad_ad, ours, out)) << "tampered AD accepted";
}

constexpr int kRandomCases = 1000;

TEST(ChaChaPolyTest, MatchesLibsodiumIetfOnRandomInputsAndRejectsTampering) {
  ASSERT_GE(sodium_init(), 0);
  DeterministicRng rng(0x8439);
  ChaChaPoly aead;  // one object for every case: the context is reused
  for (int i = 0; i < kRandomCases; ++i) {
    SCOPED_TRACE(i);
    const RandomCase c = MakeCase(rng, i);
    const uint64_t counter = i % 3 == 0 ? rng.Uniform(16) : rng.NextU64();
    uint8_t nonce[kAeadNonceLen] = {};
    StoreLe64(nonce + 4, counter);
    auto open_with = [&](uint64_t n) {
      return [&aead, &c, n](ByteSpan ad, ByteSpan in, MutableByteSpan out) {
        return aead.Open(c.key, n, ad, in, out);
      };
    };
    ASSERT_NO_FATAL_FAILURE(CrossCheck(
        rng, c,
        [&](ByteSpan ad, ByteSpan in, MutableByteSpan out) {
          return aead.Seal(c.key, counter, ad, in, out);
        },
        [&](ByteSpan ad, ByteSpan in, MutableByteSpan out) {
          unsigned long long len = 0;
          crypto_aead_chacha20poly1305_ietf_encrypt(
              out.data(), &len, in.data(), in.size(), ad.data(), ad.size(),
              nullptr, nonce, c.key.data());
          return len == out.size();
        },
        open_with(counter), open_with(counter + 1)));
  }
}

TEST(XChaChaPolyTest, MatchesLibsodiumIetfOnRandomInputsAndRejectsTampering) {
  ASSERT_GE(sodium_init(), 0);
  DeterministicRng rng(0x24);
  XChaChaPoly aead;
  for (int i = 0; i < kRandomCases; ++i) {
    SCOPED_TRACE(i);
    const RandomCase c = MakeCase(rng, i);
    std::array<uint8_t, kXNonceLen> nonce;
    rng.Fill(nonce);
    std::array<uint8_t, kXNonceLen> other_nonce = nonce;
    other_nonce[rng.Uniform(kXNonceLen)] ^= 0x80;  // either half of the nonce
    auto open_with = [&](const std::array<uint8_t, kXNonceLen>& n) {
      return [&aead, &c, &n](ByteSpan ad, ByteSpan in, MutableByteSpan out) {
        return aead.Open(c.key, n.data(), ad, in, out);
      };
    };
    ASSERT_NO_FATAL_FAILURE(CrossCheck(
        rng, c,
        [&](ByteSpan ad, ByteSpan in, MutableByteSpan out) {
          return aead.Seal(c.key, nonce.data(), ad, in, out);
        },
        [&](ByteSpan ad, ByteSpan in, MutableByteSpan out) {
          unsigned long long len = 0;
          crypto_aead_xchacha20poly1305_ietf_encrypt(
              out.data(), &len, in.data(), in.size(), ad.data(), ad.size(),
              nullptr, nonce.data(), c.key.data());
          return len == out.size();
        },
        open_with(nonce), open_with(other_nonce)));
  }
}

TEST(HChaCha20Test, MatchesLibsodiumOnRandomInputs) {
  ASSERT_GE(sodium_init(), 0);
  DeterministicRng rng(20);
  for (int i = 0; i < 200; ++i) {
    SymmetricKey key;
    rng.Fill(key.mutable_span());
    uint8_t input[16];
    rng.Fill(input);
    uint8_t theirs[32];
    crypto_core_hchacha20(theirs, input, key.data(), nullptr);
    EXPECT_EQ(HexEncode(HChaCha20(key, input).span()), HexEncode(theirs));
  }
}

}  // namespace
}  // namespace zl::crypto
