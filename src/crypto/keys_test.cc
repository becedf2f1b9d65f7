#include "crypto/keys.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <ostream>
#include <type_traits>
#include <utility>
#include <vector>

namespace zl::crypto {
namespace {

template <typename T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};

// A secret cannot reach a log by accident: no operator<<, no fmt formatter.
static_assert(Streamable<int>, "the concept itself must be able to succeed");
static_assert(!Streamable<PrivateKey>);
static_assert(!Streamable<PresharedKey>);
static_assert(!Streamable<SymmetricKey>);
static_assert(!Streamable<SharedSecret>);
static_assert(fmt::is_formattable<int>::value);
static_assert(!fmt::is_formattable<PrivateKey>::value);
static_assert(!fmt::is_formattable<SymmetricKey>::value);

// Distinct tags are distinct types: a PSK cannot be passed as a private key.
static_assert(!std::is_convertible_v<PresharedKey, PrivateKey>);
static_assert(!std::is_constructible_v<PrivateKey, PresharedKey>);
static_assert(!std::is_convertible_v<SymmetricKey, SharedSecret>);
// Construction from bytes is explicit.
static_assert(!std::is_convertible_v<ByteSpan, PrivateKey>);

std::vector<uint8_t> Iota(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i + 1);
  return v;
}

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  const auto a = Iota(32);
  auto b = a;
  EXPECT_TRUE(ConstantTimeEqual(a, b));
  b[31] ^= 1;
  EXPECT_FALSE(ConstantTimeEqual(a, b));
  b = a;
  b[0] ^= 0x80;
  EXPECT_FALSE(ConstantTimeEqual(a, b));
  EXPECT_FALSE(ConstantTimeEqual(a, ByteSpan(a).first(31)));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
}

TEST(SecureWipeTest, ZeroesTheRange) {
  auto v = Iota(40);
  SecureWipe(v.data() + 4, 32);
  EXPECT_EQ(v[3], 4);
  EXPECT_TRUE(IsAllZero(ByteSpan(v).subspan(4, 32)));
  EXPECT_EQ(v[36], 37);
  SecureWipe(nullptr, 0);  // no-op
}

TEST(SecretTest, DefaultIsZeroAndWrongSizedInputIsIgnored) {
  EXPECT_TRUE(PrivateKey().IsZero());
  EXPECT_TRUE(PrivateKey(Iota(31)).IsZero());
  const PrivateKey k(Iota(32));
  EXPECT_FALSE(k.IsZero());
  EXPECT_EQ(k.data()[0], 1);
  EXPECT_EQ(k.data()[31], 32);
}

TEST(SecretTest, EqualityIsValueEquality) {
  const SymmetricKey a(Iota(32));
  const SymmetricKey b(Iota(32));
  auto other = Iota(32);
  other[17] ^= 4;
  const SymmetricKey c(other);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  EXPECT_TRUE(a != c);
}

TEST(SecretTest, MovedFromIsZero) {
  SymmetricKey a(Iota(32));
  SymmetricKey b(std::move(a));
  EXPECT_TRUE(
      a.IsZero());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_TRUE(b == SymmetricKey(Iota(32)));

  SymmetricKey c;
  c = std::move(b);
  EXPECT_TRUE(b.IsZero());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(c == SymmetricKey(Iota(32)));

  c = std::move(c);  // self-move keeps the value
  EXPECT_FALSE(c.IsZero());
}

TEST(SecretTest, CopyKeepsBothAndWipeZeroes) {
  PresharedKey a(Iota(32));
  const PresharedKey b = a;
  EXPECT_TRUE(a == b);
  a.Wipe();
  EXPECT_TRUE(a.IsZero());
  EXPECT_FALSE(b.IsZero());
}

TEST(PublicKeyTest, PrintsAsBase64AndHex) {
  std::vector<uint8_t> bytes(32);
  ASSERT_TRUE(HexDecode(
      "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
      bytes));
  const PublicKey k(bytes);
  EXPECT_EQ(k.ToBase64(), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  EXPECT_EQ(k.ToHex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_TRUE(PublicKey().IsZero());
  EXPECT_FALSE(k.IsZero());
}

}  // namespace
}  // namespace zl::crypto
