#include "crypto/x25519.h"

#include <gtest/gtest.h>
#ifndef _WIN32
#include <sodium.h>  // the oracle; Debian has no libsodium for mingw
#endif

#include <cerrno>
#include <string_view>
#include <vector>

namespace zl::crypto {
namespace {

// PrivateKey or PublicKey from 64 hex digits.
template <typename Key>
Key FromHex(std::string_view hex) {
  Key key;
  EXPECT_TRUE(HexDecode(hex, MutableByteSpan(key.data(), key.size()))) << hex;
  return key;
}

std::string SharedHex(const Result<SharedSecret>& r) {
  if (!r.ok()) return "error: " + r.error().message();
  return HexEncode(r->span());
}

// RFC 7748 §5.2. The scalars are not clamped and the second u has its top bit
// set: X25519 must clamp and mask itself.
TEST(X25519Test, MatchesRfc7748Section52Vectors) {
  EXPECT_EQ(SharedHex(X25519(
                FromHex<PrivateKey>("a546e36bf0527c9d3b16154b82465edd62144"
                                    "c0ac1fc5a18506a2244ba449ac4"),
                FromHex<PublicKey>("e6db6867583030db3594c1a424b15f7c726624"
                                   "ec26b3353b10a903a6d0ab1c4c"))),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
  EXPECT_EQ(SharedHex(X25519(
                FromHex<PrivateKey>("4b66e9d4d1b4673c5ad22691957d6af5c11b6"
                                    "421e0ea01d42ca4169e7918ba0d"),
                FromHex<PublicKey>("e5210f12786811d3f4b7959d0538ae2c31dbe7"
                                   "106fc03c3efc4cd549c715a493"))),
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

// RFC 7748 §5.2, iterated: k = u = 9; then k, u = X25519(k, u), k.
TEST(X25519Test, MatchesRfc7748Section52IteratedVector) {
  std::vector<uint8_t> k(32, 0), u(32, 0);
  k[0] = u[0] = 9;
  for (int i = 1; i <= 1000; ++i) {
    auto r = X25519(PrivateKey(k), PublicKey(u));
    ASSERT_TRUE(r.ok()) << i;
    u = k;
    k.assign(r->span().begin(), r->span().end());
    if (i == 1) {
      EXPECT_EQ(
          HexEncode(k),
          "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  }
  EXPECT_EQ(HexEncode(k),
            "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

// RFC 7748 §6.1.
TEST(X25519Test, AliceAndBobAgreeAsInRfc7748Section61) {
  const PrivateKey alice = FromHex<PrivateKey>(
      "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const PrivateKey bob = FromHex<PrivateKey>(
      "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  auto alice_pub = DerivePublicKey(alice);
  auto bob_pub = DerivePublicKey(bob);
  ASSERT_TRUE(alice_pub.ok());
  ASSERT_TRUE(bob_pub.ok());
  EXPECT_EQ(alice_pub->ToHex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(bob_pub->ToHex(),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const std::string shared =
      "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  EXPECT_EQ(SharedHex(X25519(alice, *bob_pub)), shared);
  EXPECT_EQ(SharedHex(X25519(bob, *alice_pub)), shared);
}

// u = 0, 1, the two points of order 8, p - 1, p, p + 1 (the classic list),
// each also with bit 255 set, which RFC 7748 says to ignore.
TEST(X25519Test, LowOrderPublicKeysAreRejectedWithEinval) {
#ifndef _WIN32
  ASSERT_GE(sodium_init(), 0);
#endif
  const std::string_view kLowOrder[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  };
  SystemRng rng;
  const PrivateKey priv = GeneratePrivateKey(rng);
  for (std::string_view hex : kLowOrder) {
    for (bool top_bit : {false, true}) {
      PublicKey pub = FromHex<PublicKey>(hex);
      if (top_bit) pub.data()[31] |= 0x80;
      SCOPED_TRACE(pub.ToHex());
      auto r = X25519(priv, pub);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code(), EINVAL);
#ifndef _WIN32
      // The oracle agrees these are degenerate, so the list itself is right.
      uint8_t out[32];
      EXPECT_NE(crypto_scalarmult(out, priv.data(), pub.data()), 0);
#endif
    }
  }
}

TEST(X25519Test, ClampFollowsRfc7748) {
  PrivateKey key(std::vector<uint8_t>(32, 0xff));
  ClampPrivateKey(key);
  EXPECT_EQ(key.data()[0], 0xf8);
  EXPECT_EQ(key.data()[31], 0x7f);
  for (int i = 1; i < 31; ++i) EXPECT_EQ(key.data()[i], 0xff);
  PrivateKey zero;
  ClampPrivateKey(zero);
  EXPECT_EQ(zero.data()[0], 0x00);
  EXPECT_EQ(zero.data()[31], 0x40);
}

TEST(X25519Test, GeneratedPrivateKeysAreClampedAndDistinct) {
  SystemRng rng;
  const PrivateKey a = GeneratePrivateKey(rng);
  const PrivateKey b = GeneratePrivateKey(rng);
  EXPECT_FALSE(a == b);
  for (const PrivateKey* k : {&a, &b}) {
    EXPECT_EQ(k->data()[0] & 7, 0);
    EXPECT_EQ(k->data()[31] & 0xc0, 0x40);
  }
}

}  // namespace
}  // namespace zl::crypto
