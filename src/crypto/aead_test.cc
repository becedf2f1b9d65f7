#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/chacha20.h"
#include "crypto/random.h"

namespace zl::crypto {
namespace {

std::vector<uint8_t> Unhex(std::string_view hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  EXPECT_TRUE(HexDecode(hex, out)) << hex;
  return out;
}

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

SymmetricKey KeyFromHex(std::string_view hex) {
  return SymmetricKey(Unhex(hex));
}

constexpr std::string_view kSunscreen =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one "
    "tip for the "
    "future, sunscreen would be it.";

// A Seal or Open bound to a key and nonce: (ad, input, output) -> ok.
using AeadFn = std::function<bool(ByteSpan, ByteSpan, MutableByteSpan)>;

// Sealing `plaintext` gives `sealed`, and opening `sealed` gives it back.
void ExpectKnownAnswer(const AeadFn& seal, const AeadFn& open, ByteSpan ad,
                       const std::vector<uint8_t>& plaintext,
                       const std::vector<uint8_t>& sealed) {
  ASSERT_EQ(sealed.size(), plaintext.size() + kAeadTagLen);
  std::vector<uint8_t> out(sealed.size());
  ASSERT_TRUE(seal(ad, plaintext, out));
  EXPECT_EQ(HexEncode(out), HexEncode(sealed));
  std::vector<uint8_t> opened(plaintext.size());
  ASSERT_TRUE(open(ad, sealed, opened));
  EXPECT_EQ(opened, plaintext);
}

// RFC 8439 §2.8.2.
TEST(ChaChaPolyTest, SealWithNonceMatchesRfc8439Section282) {
  const SymmetricKey key = KeyFromHex(
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto nonce = Unhex("070000004041424344454647");
  const auto ad = Unhex("50515253c0c1c2c3c4c5c6c7");
  const auto plaintext = Bytes(kSunscreen);
  const auto expected = Unhex(
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
      "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
      "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
      "3ff4def08e4b7a9de576d26586cec64b6116"
      "1ae10b594f09e26a7e902ecbd0600691");

  ChaChaPoly aead;
  ExpectKnownAnswer(
      [&](ByteSpan a, ByteSpan in, MutableByteSpan out) {
        return aead.SealWithNonce(key, nonce.data(), a, in, out);
      },
      [&](ByteSpan a, ByteSpan in, MutableByteSpan out) {
        return aead.OpenWithNonce(key, nonce.data(), a, in, out);
      },
      ad, plaintext, expected);
}

// RFC 8439 §A.5. Its nonce is 4 zero bytes then 01..08, i.e. WireGuard's
// layout with counter 0x0807060504030201, so it goes through the counter API.
TEST(ChaChaPolyTest, OpenWithCounterMatchesRfc8439AppendixA5) {
  const SymmetricKey key = KeyFromHex(
      "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
  constexpr uint64_t kCounter = 0x0807060504030201;
  const auto ad = Unhex("f33388860000000000004e91");
  const auto ciphertext = Unhex(
      "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
      "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
      "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
      "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
      "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
      "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
      "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
      "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
      "a6ad5cb4022b02709b"
      "eead9d67890cbb22392336fea1851f38");
  const auto plaintext = Unhex(
      "496e7465726e65742d4472616674732061726520647261667420646f63756d65"
      "6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
      "6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
      "65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
      "6e747320617420616e792074696d652e20497420697320696e617070726f7072"
      "6961746520746f2075736520496e7465726e65742d4472616674732061732072"
      "65666572656e6365206d6174657269616c206f7220746f206369746520746865"
      "6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
      "726573732e2fe2809d");
  ChaChaPoly aead;
  ExpectKnownAnswer(
      [&](ByteSpan a, ByteSpan in, MutableByteSpan out) {
        return aead.Seal(key, kCounter, a, in, out);
      },
      [&](ByteSpan a, ByteSpan in, MutableByteSpan out) {
        return aead.Open(key, kCounter, a, in, out);
      },
      ad, plaintext, ciphertext);
}

TEST(ChaChaPolyTest, CounterNonceIsFourZeroBytesThenLittleEndianCounter) {
  const SymmetricKey key(std::vector<uint8_t>(32, 0x42));
  const auto nonce = Unhex("00000000efcdab8967452301");
  const auto plaintext = Bytes("counter layout");
  ChaChaPoly aead;
  std::vector<uint8_t> a(plaintext.size() + kAeadTagLen), b(a.size());
  ASSERT_TRUE(aead.Seal(key, 0x0123456789abcdef, {}, plaintext, a));
  ASSERT_TRUE(aead.SealWithNonce(key, nonce.data(), {}, plaintext, b));
  EXPECT_EQ(a, b);
}

TEST(ChaChaPolyTest, SealsAndOpensInPlace) {
  const SymmetricKey key(std::vector<uint8_t>(32, 7));
  const auto plaintext = Bytes(kSunscreen);
  std::vector<uint8_t> buf = plaintext;
  buf.resize(plaintext.size() + kAeadTagLen);
  ChaChaPoly aead;
  ASSERT_TRUE(
      aead.Seal(key, 9, {}, ByteSpan(buf.data(), plaintext.size()), buf));
  EXPECT_NE(
      std::vector<uint8_t>(buf.begin(), buf.begin() + long(plaintext.size())),
      plaintext);
  ASSERT_TRUE(aead.Open(key, 9, {}, buf,
                        MutableByteSpan(buf.data(), plaintext.size())));
  EXPECT_EQ(
      std::vector<uint8_t>(buf.begin(), buf.begin() + long(plaintext.size())),
      plaintext);
}

TEST(ChaChaPolyTest, RejectsTooShortInputsAndOutputs) {
  const SymmetricKey key;
  ChaChaPoly aead;
  uint8_t in[kAeadTagLen + 4] = {};
  uint8_t out[kAeadTagLen + 4] = {};
  EXPECT_FALSE(aead.Seal(key, 0, {}, ByteSpan(in, 4),
                         MutableByteSpan(out, kAeadTagLen + 3)));
  EXPECT_FALSE(aead.Open(key, 0, {}, ByteSpan(in, kAeadTagLen - 1), out));
  ASSERT_TRUE(aead.Seal(key, 0, {}, ByteSpan(in, 4), out));
  uint8_t small[3];
  EXPECT_FALSE(aead.Open(key, 0, {}, out, small));
}

TEST(ChaChaPolyTest, EmptyPlaintextIsJustATag) {
  const SymmetricKey key(std::vector<uint8_t>(32, 1));
  ChaChaPoly aead;
  uint8_t tag[kAeadTagLen];
  ASSERT_TRUE(aead.Seal(key, 5, {}, {}, tag));
  EXPECT_TRUE(aead.Open(key, 5, {}, tag, {}));
  EXPECT_FALSE(aead.Open(key, 6, {}, tag, {}));
}

TEST(ChaChaPolyTest, FailedOpenReleasesNoPlaintext) {
  const SymmetricKey key(std::vector<uint8_t>(32, 3));
  const auto plaintext = Bytes(kSunscreen);
  std::vector<uint8_t> sealed(plaintext.size() + kAeadTagLen);
  ChaChaPoly aead;
  ASSERT_TRUE(aead.Seal(key, 1, {}, plaintext, sealed));
  sealed.back() ^= 1;
  std::vector<uint8_t> out(plaintext.size(), 0xaa);
  EXPECT_FALSE(aead.Open(key, 1, {}, sealed, out));
  EXPECT_TRUE(IsAllZero(out));
}

// A context reused across keys (as the engine's is, for every peer) sets
// the key only when it changed; each result must still be the key's own.
class ChaChaPolyKeyChangeTest : public ::testing::Test {
 protected:
  ChaChaPolyKeyChangeTest() {
    DeterministicRng rng(21);
    rng.Fill(k1_.mutable_span());
    k2_ = k1_;
    k2_.data()[31] ^= 1;  // differs in the last byte only
    rng.Fill(MutableByteSpan(plain_));
  }

  // What a never-used context makes of `plain_` under `key`.
  static std::vector<uint8_t> FreshSeal(const SymmetricKey& key, uint64_t counter,
                                        ByteSpan ad, ByteSpan plain) {
    ChaChaPoly fresh;
    std::vector<uint8_t> out(plain.size() + kAeadTagLen);
    EXPECT_TRUE(fresh.Seal(key, counter, ad, plain, out));
    return out;
  }

  SymmetricKey k1_, k2_;
  uint8_t plain_[100];
};

TEST_F(ChaChaPolyKeyChangeTest, SealOutOfPlaceUnderK1K2K1MatchesFreshContexts) {
  ChaChaPoly aead;
  const SymmetricKey* keys[] = {&k1_, &k2_, &k1_, &k1_, &k2_};
  uint64_t counter = 0;
  for (const SymmetricKey* key : keys) {
    std::vector<uint8_t> out(sizeof(plain_) + kAeadTagLen);
    ASSERT_TRUE(aead.Seal(*key, counter, {}, ByteSpan(plain_), out));
    EXPECT_EQ(out, FreshSeal(*key, counter, {}, ByteSpan(plain_))) << counter;
    ++counter;
  }
  EXPECT_NE(FreshSeal(k1_, 0, {}, ByteSpan(plain_)),
            FreshSeal(k2_, 0, {}, ByteSpan(plain_)));
}

TEST_F(ChaChaPolyKeyChangeTest, SealInPlaceWithAdUnderK1K2K1MatchesFreshContexts) {
  ChaChaPoly aead;
  const uint8_t ad[5] = {1, 2, 3, 4, 5};
  const SymmetricKey* keys[] = {&k1_, &k2_, &k1_};
  uint64_t counter = 40;
  for (const SymmetricKey* key : keys) {
    std::vector<uint8_t> buf(std::begin(plain_), std::end(plain_));
    buf.resize(sizeof(plain_) + kAeadTagLen);
    ASSERT_TRUE(aead.Seal(*key, counter, ByteSpan(ad),
                          ByteSpan(buf.data(), sizeof(plain_)), buf));
    EXPECT_EQ(buf, FreshSeal(*key, counter, ByteSpan(ad), ByteSpan(plain_)));
    ++counter;
  }
}

TEST_F(ChaChaPolyKeyChangeTest, OpenUnderK1K2K1InPlaceAndOutOfPlace) {
  const auto m1 = FreshSeal(k1_, 1, {}, ByteSpan(plain_));
  const auto m2 = FreshSeal(k2_, 2, {}, ByteSpan(plain_));
  const auto m3 = FreshSeal(k1_, 3, {}, ByteSpan(plain_));
  const std::vector<uint8_t> expected(std::begin(plain_), std::end(plain_));
  ChaChaPoly aead;
  std::vector<uint8_t> out(sizeof(plain_));
  ASSERT_TRUE(aead.Open(k1_, 1, {}, m1, out));
  EXPECT_EQ(out, expected);
  std::vector<uint8_t> buf = m2;
  ASSERT_TRUE(aead.Open(k2_, 2, {}, buf, MutableByteSpan(buf.data(), sizeof(plain_))));
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + sizeof(plain_)), expected);
  // A message under the other key fails, and the right key then succeeds.
  EXPECT_FALSE(aead.Open(k2_, 3, {}, m3, out));
  ASSERT_TRUE(aead.Open(k1_, 3, {}, m3, out));
  EXPECT_EQ(out, expected);
}

TEST_F(ChaChaPolyKeyChangeTest, SealAndOpenAlternateUnderOneKey) {
  ChaChaPoly aead;
  const std::vector<uint8_t> expected(std::begin(plain_), std::end(plain_));
  for (uint64_t counter = 0; counter < 4; ++counter) {
    std::vector<uint8_t> sealed(sizeof(plain_) + kAeadTagLen);
    ASSERT_TRUE(aead.Seal(k1_, counter, {}, ByteSpan(plain_), sealed));
    EXPECT_EQ(sealed, FreshSeal(k1_, counter, {}, ByteSpan(plain_)));
    std::vector<uint8_t> out(sizeof(plain_));
    ASSERT_TRUE(aead.Open(k1_, counter, {}, sealed, out));
    EXPECT_EQ(out, expected);
  }
}

TEST_F(ChaChaPolyKeyChangeTest, FailedOpenThenSuccessfulOpenWithTheSameKey) {
  ChaChaPoly aead;
  auto sealed = FreshSeal(k1_, 8, {}, ByteSpan(plain_));
  std::vector<uint8_t> out(sizeof(plain_));
  sealed[3] ^= 0x80;
  EXPECT_FALSE(aead.Open(k1_, 8, {}, sealed, out));
  EXPECT_FALSE(aead.Open(k1_, 8, {}, sealed, out));  // same key, no re-key
  sealed[3] ^= 0x80;
  ASSERT_TRUE(aead.Open(k1_, 8, {}, sealed, out));
  EXPECT_EQ(out, std::vector<uint8_t>(std::begin(plain_), std::end(plain_)));
  // And sealing with that key afterwards is unaffected.
  std::vector<uint8_t> again(sealed.size());
  ASSERT_TRUE(aead.Seal(k1_, 8, {}, ByteSpan(plain_), again));
  EXPECT_EQ(again, sealed);
}

TEST_F(ChaChaPolyKeyChangeTest, WipeThenSealOrOpenWithTheSameKey) {
  ChaChaPoly aead;
  const auto sealed = FreshSeal(k1_, 5, {}, ByteSpan(plain_));
  std::vector<uint8_t> out(sealed.size());
  ASSERT_TRUE(aead.Seal(k1_, 5, {}, ByteSpan(plain_), out));
  aead.Wipe();
  EXPECT_FALSE(aead.HoldsKeyForTesting());
  // The same key again must be set in full, not taken as still held.
  std::vector<uint8_t> opened(sizeof(plain_));
  ASSERT_TRUE(aead.Open(k1_, 5, {}, sealed, opened));
  EXPECT_EQ(opened, std::vector<uint8_t>(std::begin(plain_), std::end(plain_)));
  aead.Wipe();
  ASSERT_TRUE(aead.Seal(k1_, 5, {}, ByteSpan(plain_), out));
  EXPECT_EQ(out, sealed);
}

// The all-zero key is what Wipe() leaves in the context; it must still be
// a key like any other before and after a Wipe().
TEST_F(ChaChaPolyKeyChangeTest, ZeroKeyAroundWipeMatchesFreshContexts) {
  const SymmetricKey zero;
  ChaChaPoly aead;
  std::vector<uint8_t> out(sizeof(plain_) + kAeadTagLen);
  ASSERT_TRUE(aead.Seal(k1_, 1, {}, ByteSpan(plain_), out));
  aead.Wipe();
  ASSERT_TRUE(aead.Seal(zero, 1, {}, ByteSpan(plain_), out));
  EXPECT_EQ(out, FreshSeal(zero, 1, {}, ByteSpan(plain_)));
  ASSERT_TRUE(aead.Seal(k1_, 1, {}, ByteSpan(plain_), out));
  EXPECT_EQ(out, FreshSeal(k1_, 1, {}, ByteSpan(plain_)));
}

// RFC 8439 §2.8.2 on a context already keyed with another key.
TEST_F(ChaChaPolyKeyChangeTest, Rfc8439VectorAfterAnotherKey) {
  const SymmetricKey key = KeyFromHex(
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto nonce = Unhex("070000004041424344454647");
  const auto ad = Unhex("50515253c0c1c2c3c4c5c6c7");
  ChaChaPoly aead;
  std::vector<uint8_t> scratch(sizeof(plain_) + kAeadTagLen);
  ASSERT_TRUE(aead.Seal(k1_, 0, {}, ByteSpan(plain_), scratch));
  const auto plaintext = Bytes(kSunscreen);
  std::vector<uint8_t> out(plaintext.size() + kAeadTagLen);
  ASSERT_TRUE(aead.SealWithNonce(key, nonce.data(), ad, plaintext, out));
  EXPECT_EQ(HexEncode(ByteSpan(out).subspan(plaintext.size())),
            "1ae10b594f09e26a7e902ecbd0600691");
}

// draft-irtf-cfrg-xchacha-03 §2.2.1.
TEST(HChaCha20Test, MatchesXChachaDraftSection221) {
  const SymmetricKey key = KeyFromHex(
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const auto input = Unhex("000000090000004a0000000031415927");
  const SymmetricKey subkey = HChaCha20(key, input.data());
  EXPECT_EQ(HexEncode(subkey.span()),
            "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

// draft-irtf-cfrg-xchacha-03 §A.3.1.
TEST(XChaChaPolyTest, MatchesXChachaDraftAppendixA31) {
  const SymmetricKey key = KeyFromHex(
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto nonce = Unhex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const auto ad = Unhex("50515253c0c1c2c3c4c5c6c7");
  const auto plaintext = Bytes(kSunscreen);
  const auto expected = Unhex(
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
      "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
      "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
      "21f9664c97637da9768812f615c68b13b52e"
      "c0875924c1c7987947deafd8780acf49");

  XChaChaPoly aead;
  ExpectKnownAnswer(
      [&](ByteSpan a, ByteSpan in, MutableByteSpan out) {
        return aead.Seal(key, nonce.data(), a, in, out);
      },
      [&](ByteSpan a, ByteSpan in, MutableByteSpan out) {
        return aead.Open(key, nonce.data(), a, in, out);
      },
      ad, plaintext, expected);
}

// OpenSSL keeps a context's last key until it is re-keyed. The hooks read
// the key a context holds by encrypting a probe block with it.
TEST(ChaChaPolyTest, WipeLeavesNoKeyInTheContext) {
  DeterministicRng rng(11);
  SymmetricKey key;
  rng.Fill(key.mutable_span());
  ChaChaPoly aead;
  EXPECT_FALSE(aead.HoldsKeyForTesting());  // never keyed
  uint8_t out[16 + kAeadTagLen];
  const uint8_t plain[16] = {1, 2, 3};
  ASSERT_TRUE(aead.Seal(key, 7, {}, ByteSpan(plain), MutableByteSpan(out)));
  EXPECT_TRUE(aead.HoldsKeyForTesting());  // the hook sees a held key
  aead.Wipe();
  EXPECT_FALSE(aead.HoldsKeyForTesting());
  // Still usable, and the same as before.
  uint8_t again[sizeof(out)];
  ASSERT_TRUE(aead.Seal(key, 7, {}, ByteSpan(plain), MutableByteSpan(again)));
  EXPECT_EQ(0, std::memcmp(out, again, sizeof(out)));
  uint8_t opened[16];
  ASSERT_TRUE(aead.Open(key, 7, {}, ByteSpan(out), MutableByteSpan(opened)));
  aead.Wipe();
  EXPECT_FALSE(aead.HoldsKeyForTesting());
}

TEST(XChaChaPolyTest, LeavesNoKeyInItsContexts) {
  DeterministicRng rng(12);
  SymmetricKey key;
  rng.Fill(key.mutable_span());
  uint8_t nonce[kXNonceLen];
  rng.Fill(MutableByteSpan(nonce));
  XChaChaPoly aead;
  uint8_t sealed[16 + kAeadTagLen], opened[16];
  const uint8_t cookie[16] = {9, 9, 9};
  ASSERT_TRUE(
      aead.Seal(key, nonce, {}, ByteSpan(cookie), MutableByteSpan(sealed)));
  EXPECT_FALSE(aead.HoldsKeyForTesting());
  EXPECT_FALSE(internal::KeystreamContextHoldsKeyForTesting());
  ASSERT_TRUE(
      aead.Open(key, nonce, {}, ByteSpan(sealed), MutableByteSpan(opened)));
  EXPECT_FALSE(aead.HoldsKeyForTesting());
  EXPECT_FALSE(internal::KeystreamContextHoldsKeyForTesting());
}

}  // namespace
}  // namespace zl::crypto
