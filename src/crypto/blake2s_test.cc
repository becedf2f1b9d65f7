#include "crypto/blake2s.h"

#include <gtest/gtest.h>

#include <string_view>
#include <thread>
#include <vector>

#include "crypto/random.h"

namespace zl::crypto {
namespace {

ByteSpan Str(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<uint8_t> Iota(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i);
  return v;
}

// RFC 7693 Appendix B.
TEST(Blake2sTest, MatchesRfc7693AppendixB) {
  EXPECT_EQ(HexEncode(Blake2s({Str("abc")})),
            "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

// The unkeyed empty-input value of the BLAKE2 reference KAT.
TEST(Blake2sTest, HashesEmptyInput) {
  EXPECT_EQ(HexEncode(Blake2s({})),
            "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
  EXPECT_EQ(Blake2s({}), Blake2s({ByteSpan()}));
}

TEST(Blake2sTest, HashesTheConcatenationOfParts) {
  const auto data = Iota(200);
  const ByteSpan all(data);
  const Hash whole = Blake2s({all});
  EXPECT_EQ(Blake2s({all.first(1), all.subspan(1)}), whole);
  EXPECT_EQ(Blake2s({all.first(64), {}, all.subspan(64, 64), all.subspan(128)}),
            whole);
  EXPECT_NE(Blake2s({all.first(199)}), whole);
}

// WireGuard's MAC is RFC 7693 keyed BLAKE2s with digest length 16 in the
// parameter block. The expected values were computed with CPython's hashlib
// (blake2s(msg, key=key, digest_size=16), the BLAKE2 reference code), an
// implementation independent of OpenSSL.
TEST(Blake2sTest, MacIsKeyedModeWithOutlen16) {
  const auto key32 = Iota(32);
  EXPECT_EQ(HexEncode(Blake2sMac(key32, {})),
            "9536f9b267655743dee97b8a670f9f53");
  const auto msg = Iota(64);
  EXPECT_EQ(HexEncode(Blake2sMac(key32, {msg})),
            "f1efa90d2547036841ecd3627fafbc36");
  // A 16-byte key, as mac2 uses with the cookie.
  EXPECT_EQ(HexEncode(Blake2sMac(Iota(16), {Str("abc")})),
            "75296c2d2c0f51210b383f386bc8b1ff");
}

// blake2s-kat.txt (BLAKE2 reference): keyed, key 00..1f, empty input, 32-byte
// output = 48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49.
// Because the output length is hashed into the parameter block, the 16-byte
// MAC must not be its first half.
TEST(Blake2sTest, MacIsNotATruncated32ByteMac) {
  const auto key32 = Iota(32);
  EXPECT_NE(HexEncode(Blake2sMac(key32, {})),
            "48a8997da407876b3d79c0d92325ad3b");
  // Likewise for msg 00..3f, whose 32-byte keyed value begins 8975b0577fd35566.
  EXPECT_NE(HexEncode(Blake2sMac(key32, {Iota(64)})).substr(0, 16),
            "8975b0577fd35566");
}

TEST(Blake2sTest, MacDependsOnKeyAndParts) {
  const auto key = Iota(32);
  auto other_key = key;
  other_key[31] ^= 1;
  const auto data = Iota(100);
  const ByteSpan all(data);
  EXPECT_EQ(Blake2sMac(key, {all.first(10), all.subspan(10)}),
            Blake2sMac(key, {all}));
  EXPECT_NE(Blake2sMac(key, {all}), Blake2sMac(other_key, {all}));
}

// An independent HMAC (RFC 2104) over our Blake2s: H((K ^ opad) || H((K ^
// ipad) || m)), with K hashed first when longer than the 64-byte block.
Hash ReferenceHmac(ByteSpan key, ByteSpan msg) {
  constexpr size_t kBlock = 64;
  std::vector<uint8_t> k(kBlock, 0);
  if (key.size() > kBlock) {
    const Hash hk = Blake2s({key});
    std::copy(hk.begin(), hk.end(), k.begin());
  } else {
    std::copy(key.begin(), key.end(), k.begin());
  }
  std::vector<uint8_t> ipad(kBlock), opad(kBlock);
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  const Hash inner = Blake2s({ipad, msg});
  return Blake2s({opad, inner});
}

TEST(HmacBlake2sTest, MatchesRfc2104ConstructionForShortAndLongKeys) {
  DeterministicRng rng(2104);
  for (size_t key_len : {0, 1, 16, 32, 63, 64, 65, 100, 200}) {
    for (int i = 0; i < 20; ++i) {
      std::vector<uint8_t> key(key_len), msg(rng.Uniform(300));
      rng.Fill(key);
      rng.Fill(msg);
      EXPECT_EQ(HmacBlake2s(key, {msg}), ReferenceHmac(key, msg))
          << "key_len " << key_len;
    }
  }
}

// Fixed values from CPython (hmac.new(key, b"abc", hashlib.blake2s)), so a
// change that broke both HmacBlake2s and Blake2s alike is still caught.
TEST(HmacBlake2sTest, MatchesIndependentlyComputedValues) {
  EXPECT_EQ(HexEncode(HmacBlake2s(Iota(32), {Str("abc")})),
            "82623be5bc0a391b24dce53e67d028eff92d586de0485ac37822e597d049c74f");
  EXPECT_EQ(HexEncode(HmacBlake2s(Iota(100), {Str("a"), Str("bc")})),
            "c1b751501db12b753069a918627b623179be55c8cc7ca5c4e14bdf32274ac656");
}

SymmetricKey ToKey(const Hash& h) { return SymmetricKey(h); }

TEST(KdfTest, OutputsFollowTheNoiseHkdfDefinition) {
  const SymmetricKey key(Iota(32));
  const auto input = Iota(45);
  const Hash t0 = HmacBlake2s(key.span(), {input});
  const uint8_t one[] = {1}, two[] = {2}, three[] = {3};
  const Hash t1 = HmacBlake2s(t0, {one});
  const Hash t2 = HmacBlake2s(t0, {t1, two});
  const Hash t3 = HmacBlake2s(t0, {t2, three});

  SymmetricKey a, b, c;
  Kdf1(key, input, a);
  EXPECT_TRUE(a == ToKey(t1));
  Kdf2(key, input, a, b);
  EXPECT_TRUE(a == ToKey(t1));
  EXPECT_TRUE(b == ToKey(t2));
  Kdf3(key, input, a, b, c);
  EXPECT_TRUE(a == ToKey(t1));
  EXPECT_TRUE(b == ToKey(t2));
  EXPECT_TRUE(c == ToKey(t3));
}

TEST(KdfTest, EmptyInputIsAllowed) {
  const SymmetricKey key(Iota(32));
  SymmetricKey out;
  Kdf1(key, {}, out);
  EXPECT_TRUE(out == ToKey(HmacBlake2s(HmacBlake2s(key.span(), {}),
                                       {std::vector<uint8_t>{1}})));
}

// Noise's MixKey is ck, k = KDF2(ck, input): the output may be the key.
TEST(KdfTest, OutputMayAliasTheKey) {
  const SymmetricKey key(Iota(32));
  const auto input = Iota(32);
  SymmetricKey want1, want2;
  Kdf2(key, input, want1, want2);
  SymmetricKey ck = key, k;
  Kdf2(ck, input, ck, k);
  EXPECT_TRUE(ck == want1);
  EXPECT_TRUE(k == want2);
}

// Contexts are per thread; concurrent callers must not disturb each other.
TEST(Blake2sTest, FreeFunctionsAgreeAcrossThreads) {
  const auto key = Iota(32);
  const auto msg = Iota(150);
  const Hash hash = Blake2s({msg});
  const Mac mac = Blake2sMac(key, {msg});
  const Hash hmac = HmacBlake2s(key, {msg});
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        mismatches[t] += Blake2s({msg}) != hash;
        mismatches[t] += Blake2sMac(key, {msg}) != mac;
        mismatches[t] += HmacBlake2s(key, {msg}) != hmac;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

// After the KDF of Split, OpenSSL's HMAC context would hold t0, from which
// both session keys follow; after a cookie, the BLAKE2s-MAC context would
// hold the cookie secret. Every call leaves its context keyed with zeros.
TEST(KdfTest, LeavesNoKeyInTheMacContexts) {
  SymmetricKey chaining_key, t1, t2;
  for (size_t i = 0; i < SymmetricKey::size(); ++i)
    chaining_key.data()[i] = uint8_t(i + 1);
  Kdf2(chaining_key, ByteSpan(), t1, t2);
  EXPECT_FALSE(internal::MacContextsHoldKeyForTesting());
  (void)HmacBlake2s(chaining_key.span(), {t1.span()});
  EXPECT_FALSE(internal::MacContextsHoldKeyForTesting());
}

TEST(Blake2sTest, MacLeavesNoKeyInItsContext) {
  uint8_t secret[32];
  for (size_t i = 0; i < sizeof(secret); ++i) secret[i] = uint8_t(0x80 + i);
  const uint8_t address[6] = {192, 0, 2, 1, 0xca, 0x6c};
  (void)Blake2sMac(ByteSpan(secret), {ByteSpan(address)});
  EXPECT_FALSE(internal::MacContextsHoldKeyForTesting());
}

}  // namespace
}  // namespace zl::crypto
