#include "wg/cookie.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "crypto/x25519.h"

namespace zl::wg {
namespace {

using std::chrono::seconds;
using Verdict = CookieChecker::Verdict;

crypto::PublicKey RandomPublicKey(crypto::Rng& rng) {
  crypto::PublicKey k;
  rng.Fill(MutableByteSpan(k.data(), k.size()));
  return k;
}

class CookieTest : public ::testing::Test {
 protected:
  CookieTest() : rng_(7), responder_key_(RandomPublicKey(rng_)) {
    checker_.SetLocalPublicKey(responder_key_);
    generator_.SetRemotePublicKey(responder_key_);
    source_ = Endpoint(*IpAddress::Parse("192.0.2.1"), 51820);
  }

  // A whole initiation with arbitrary contents and empty MACs.
  std::vector<uint8_t> NewInitiation() {
    std::vector<uint8_t> msg(kInitiationSize);
    rng_.Fill(MutableByteSpan(msg));
    StoreLe32(msg.data(), uint32_t(MessageType::kInitiation));
    std::fill(msg.begin() + kInitiationMac1Offset, msg.end(), 0);
    return msg;
  }

  ByteSpan Mac2Of(const std::vector<uint8_t>& msg) {
    return ByteSpan(msg).last(crypto::kMacLen);
  }

  // Runs "under load": checker answers `msg` with a cookie reply that the
  // generator consumes.
  bool GetCookie(const std::vector<uint8_t>& msg, MonoTime checker_now,
                 MonoTime generator_now) {
    CookieReply reply;
    checker_.CreateCookieReply(ByteSpan(msg), 0x55, source_, checker_now, rng_,
                               reply);
    return generator_.ConsumeCookieReply(reply, generator_now);
  }

  crypto::DeterministicRng rng_;
  crypto::PublicKey responder_key_;
  CookieChecker checker_;
  CookieGenerator generator_;
  Endpoint source_;
  MonoTime t0_ = MonoTime(seconds(1000));
};

TEST_F(CookieTest, Mac1ValidAndInvalid) {
  auto msg = NewInitiation();
  generator_.AddMacs(MutableByteSpan(msg), t0_);
  EXPECT_EQ(checker_.Check(ByteSpan(msg), source_, t0_), Verdict::kValidMac1);
  EXPECT_TRUE(IsAllZero(Mac2Of(msg)));  // no cookie: mac2 is zero

  for (size_t i : {size_t(0), size_t(4), size_t(60), kInitiationMac1Offset - 1,
                   kInitiationMac1Offset, kInitiationMac1Offset + 15}) {
    auto bad = msg;
    bad[i] ^= 1;
    EXPECT_EQ(checker_.Check(ByteSpan(bad), source_, t0_),
              Verdict::kInvalidMac1)
        << i;
  }
  // Keyed to another public key: mac1 is wrong.
  CookieChecker other;
  other.SetLocalPublicKey(RandomPublicKey(rng_));
  EXPECT_EQ(other.Check(ByteSpan(msg), source_, t0_), Verdict::kInvalidMac1);
  // Too short to hold the MACs.
  EXPECT_EQ(checker_.Check(ByteSpan(msg).first(31), source_, t0_),
            Verdict::kInvalidMac1);
}

TEST_F(CookieTest, Mac1CoversEverythingBeforeIt) {
  // The response layout: mac1 at 60.
  std::vector<uint8_t> msg(kResponseSize, 0);
  StoreLe32(msg.data(), uint32_t(MessageType::kResponse));
  generator_.AddMacs(MutableByteSpan(msg), t0_);
  const crypto::Hash key = crypto::Blake2s(
      {ByteSpan(reinterpret_cast<const uint8_t*>("mac1----"), 8),
       responder_key_.span()});
  const crypto::Mac expected = crypto::Blake2sMac(
      ByteSpan(key), {ByteSpan(msg).first(kResponseMac1Offset)});
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(),
                         msg.begin() + kResponseMac1Offset));
  EXPECT_EQ(checker_.Check(ByteSpan(msg), source_, t0_), Verdict::kValidMac1);
}

TEST_F(CookieTest, CookieReplyFlowYieldsValidMac2) {
  // 1. Under load the checker sees mac1 only and answers with a cookie reply.
  auto first = NewInitiation();
  generator_.AddMacs(MutableByteSpan(first), t0_);
  ASSERT_EQ(checker_.Check(ByteSpan(first), source_, t0_), Verdict::kValidMac1);
  CookieReply reply;
  checker_.CreateCookieReply(ByteSpan(first), 0xabcdef01, source_, t0_, rng_,
                             reply);
  EXPECT_EQ(reply.receiver_index, 0xabcdef01u);
  // 2. The generator takes the cookie.
  const auto t1 = t0_ + seconds(1);
  ASSERT_TRUE(generator_.ConsumeCookieReply(reply, t1));
  // 3. The retry carries mac2, and the checker accepts it.
  auto retry = NewInitiation();
  generator_.AddMacs(MutableByteSpan(retry), t1);
  EXPECT_FALSE(IsAllZero(Mac2Of(retry)));
  EXPECT_EQ(checker_.Check(ByteSpan(retry), source_, t1), Verdict::kValidMac2);
  // A tampered mac2 is only a valid mac1.
  retry.back() ^= 1;
  EXPECT_EQ(checker_.Check(ByteSpan(retry), source_, t1), Verdict::kValidMac1);
}

TEST_F(CookieTest, ZeroMac2IsOnlyValidMac1WhileASecretIsFresh) {
  auto first = NewInitiation();
  generator_.AddMacs(MutableByteSpan(first), t0_);
  CookieReply reply;
  checker_.CreateCookieReply(ByteSpan(first), 1, source_, t0_, rng_, reply);
  auto msg = NewInitiation();
  generator_.AddMacs(MutableByteSpan(msg), t0_);  // no cookie: mac2 zero
  ASSERT_TRUE(IsAllZero(Mac2Of(msg)));
  EXPECT_EQ(checker_.Check(ByteSpan(msg), source_, t0_), Verdict::kValidMac1);
}

TEST_F(CookieTest, Mac2FromAnotherSourceIsOnlyValidMac1) {
  auto first = NewInitiation();
  generator_.AddMacs(MutableByteSpan(first), t0_);
  ASSERT_TRUE(GetCookie(first, t0_, t0_));
  auto retry = NewInitiation();
  generator_.AddMacs(MutableByteSpan(retry), t0_);
  ASSERT_EQ(checker_.Check(ByteSpan(retry), source_, t0_), Verdict::kValidMac2);
  const Endpoint other_port(source_.address(), 51821);
  const Endpoint other_ip(*IpAddress::Parse("192.0.2.2"), 51820);
  const Endpoint v6(*IpAddress::Parse("2001:db8::1"), 51820);
  EXPECT_EQ(checker_.Check(ByteSpan(retry), other_port, t0_),
            Verdict::kValidMac1);
  EXPECT_EQ(checker_.Check(ByteSpan(retry), other_ip, t0_),
            Verdict::kValidMac1);
  EXPECT_EQ(checker_.Check(ByteSpan(retry), v6, t0_), Verdict::kValidMac1);
}

TEST_F(CookieTest, SecretRotatesAfter120SecondsAndOldCookiesFail) {
  auto first = NewInitiation();
  generator_.AddMacs(MutableByteSpan(first), t0_);
  // The generator takes the cookie late, so it is still fresh on its side.
  const auto late = t0_ + seconds(100);
  ASSERT_TRUE(GetCookie(first, t0_, late));
  auto msg = NewInitiation();
  generator_.AddMacs(MutableByteSpan(msg), t0_ + seconds(119));
  EXPECT_EQ(checker_.Check(ByteSpan(msg), source_, t0_ + seconds(119)),
            Verdict::kValidMac2);

  // 120 s after its birth the secret is stale: no mac2 is valid.
  const auto t120 = t0_ + seconds(120);
  generator_.AddMacs(MutableByteSpan(msg), t120);
  EXPECT_FALSE(IsAllZero(Mac2Of(msg)));  // the generator still holds its cookie
  EXPECT_EQ(checker_.Check(ByteSpan(msg), source_, t120), Verdict::kValidMac1);

  // The next cookie reply rotates the secret; the old cookie stays invalid,
  // and a new cookie works.
  CookieReply reply;
  checker_.CreateCookieReply(ByteSpan(msg), 1, source_, t120, rng_, reply);
  EXPECT_EQ(checker_.Check(ByteSpan(msg), source_, t120), Verdict::kValidMac1);
  ASSERT_TRUE(generator_.ConsumeCookieReply(reply, t120));
  generator_.AddMacs(MutableByteSpan(msg), t120);
  EXPECT_EQ(checker_.Check(ByteSpan(msg), source_, t120), Verdict::kValidMac2);
}

TEST_F(CookieTest, SecretIsKeptWithinItsLifetime) {
  auto a = NewInitiation();
  generator_.AddMacs(MutableByteSpan(a), t0_);
  ASSERT_TRUE(GetCookie(a, t0_, t0_));
  // A second reply 60 s later uses the same secret: the first cookie still
  // works.
  auto b = NewInitiation();
  generator_.AddMacs(MutableByteSpan(b), t0_ + seconds(60));
  CookieReply reply;
  checker_.CreateCookieReply(ByteSpan(b), 1, source_, t0_ + seconds(60), rng_,
                             reply);
  EXPECT_EQ(checker_.Check(ByteSpan(b), source_, t0_ + seconds(60)),
            Verdict::kValidMac2);
}

TEST_F(CookieTest, GeneratorStopsUsingACookieFiveSecondsBeforeItExpires) {
  // The responder's secret lives 120 s; the sender stops at 120 - 5 s
  // (REKEY_TIMEOUT) so a cookie about to expire there is not used (kernel
  // cookie.c). Each message gets its MACs once, as on the wire.
  auto first = NewInitiation();
  generator_.AddMacs(MutableByteSpan(first), t0_);
  ASSERT_TRUE(GetCookie(first, t0_, t0_));
  auto fresh = NewInitiation();
  generator_.AddMacs(MutableByteSpan(fresh),
                     t0_ + seconds(114) + std::chrono::milliseconds(999));
  EXPECT_FALSE(IsAllZero(Mac2Of(fresh)));
  for (int s : {115, 117, 119, 120, 200}) {
    auto late = NewInitiation();
    generator_.AddMacs(MutableByteSpan(late), t0_ + seconds(s));
    EXPECT_TRUE(IsAllZero(Mac2Of(late))) << s << " s after the cookie";
  }
}

TEST_F(CookieTest, ReplyToADifferentMac1IsRefused) {
  auto a = NewInitiation();
  generator_.AddMacs(MutableByteSpan(a), t0_);
  auto b = NewInitiation();
  generator_.AddMacs(MutableByteSpan(b),
                     t0_);  // the generator's last mac1 is b's
  CookieReply reply_to_a;
  checker_.CreateCookieReply(ByteSpan(a), 1, source_, t0_, rng_, reply_to_a);
  EXPECT_FALSE(generator_.ConsumeCookieReply(reply_to_a, t0_));
  CookieReply reply_to_b;
  checker_.CreateCookieReply(ByteSpan(b), 1, source_, t0_, rng_, reply_to_b);
  EXPECT_TRUE(generator_.ConsumeCookieReply(reply_to_b, t0_));
  // One reply per mac1: the same reply again is refused.
  EXPECT_FALSE(generator_.ConsumeCookieReply(reply_to_b, t0_));
}

TEST_F(CookieTest, ReplyBeforeAnyMessageOrTamperedIsRefused) {
  auto msg = NewInitiation();
  CookieReply reply;
  checker_.CreateCookieReply(ByteSpan(msg), 1, source_, t0_, rng_, reply);
  EXPECT_FALSE(generator_.ConsumeCookieReply(reply, t0_));  // nothing sent yet

  generator_.AddMacs(MutableByteSpan(msg), t0_);
  checker_.CreateCookieReply(ByteSpan(msg), 1, source_, t0_, rng_, reply);
  for (size_t i = 0; i < reply.encrypted_cookie.size(); i += 5) {
    CookieReply bad = reply;
    bad.encrypted_cookie[i] ^= 1;
    EXPECT_FALSE(generator_.ConsumeCookieReply(bad, t0_)) << i;
  }
  CookieReply bad_nonce = reply;
  bad_nonce.nonce[3] ^= 1;
  EXPECT_FALSE(generator_.ConsumeCookieReply(bad_nonce, t0_));
  // A generator keyed to another peer cannot read it.
  CookieGenerator other;
  other.SetRemotePublicKey(RandomPublicKey(rng_));
  other.AddMacs(MutableByteSpan(msg), t0_);
  EXPECT_FALSE(other.ConsumeCookieReply(reply, t0_));
}

TEST_F(CookieTest, ReplyNoncesAreRandom) {
  auto msg = NewInitiation();
  generator_.AddMacs(MutableByteSpan(msg), t0_);
  CookieReply r1, r2;
  checker_.CreateCookieReply(ByteSpan(msg), 1, source_, t0_, rng_, r1);
  checker_.CreateCookieReply(ByteSpan(msg), 1, source_, t0_, rng_, r2);
  EXPECT_NE(r1.nonce, r2.nonce);
  EXPECT_NE(r1.encrypted_cookie, r2.encrypted_cookie);
}

// The cookie secret keys a BLAKE2s-MAC, the cookie an XChaCha20-Poly1305:
// neither stays behind in OpenSSL's thread-wide MAC contexts.
TEST_F(CookieTest, NoCookieSecretStaysInTheMacContexts) {
  auto msg = NewInitiation();
  generator_.AddMacs(MutableByteSpan(msg), t0_);
  ASSERT_TRUE(GetCookie(msg, t0_, t0_));
  EXPECT_FALSE(crypto::internal::MacContextsHoldKeyForTesting());
  auto second = NewInitiation();
  generator_.AddMacs(MutableByteSpan(second), t0_);
  ASSERT_EQ(checker_.Check(ByteSpan(second), source_, t0_),
            Verdict::kValidMac2);
  EXPECT_FALSE(crypto::internal::MacContextsHoldKeyForTesting());
}

}  // namespace
}  // namespace zl::wg
