// X25519 against libsodium, an independent oracle, on random keys. Linux
// only: Debian has no libsodium for mingw (the RFC 7748 vectors in
// x25519_test.cc run on every platform).
#include <gtest/gtest.h>
#include <sodium.h>

#include "crypto/random.h"
#include "crypto/x25519.h"

namespace zl::crypto {
namespace {

TEST(X25519Test, MatchesLibsodiumOnRandomKeys) {
  ASSERT_GE(sodium_init(), 0);
  DeterministicRng rng(7748);
  for (int i = 0; i < 1000; ++i) {
    // Raw random bytes on both sides: unclamped scalars and u values with
    // bit 255 set or non-canonical are all valid inputs.
    PrivateKey priv;
    rng.Fill(priv.mutable_span());
    PublicKey pub;
    rng.Fill(MutableByteSpan(pub.data(), pub.size()));

    uint8_t theirs[32];
    const int rc = crypto_scalarmult(theirs, priv.data(), pub.data());
    auto ours = X25519(priv, pub);
    ASSERT_EQ(ours.ok(), rc == 0) << "case " << i;
    if (rc == 0) {
      ASSERT_EQ(HexEncode(ours->span()), HexEncode(theirs)) << "case " << i;
    }

    uint8_t their_pub[32];
    ASSERT_EQ(crypto_scalarmult_base(their_pub, priv.data()), 0);
    auto our_pub = DerivePublicKey(priv);
    ASSERT_TRUE(our_pub.ok());
    ASSERT_EQ(our_pub->ToHex(), HexEncode(their_pub)) << "case " << i;
  }
}

}  // namespace
}  // namespace zl::crypto
