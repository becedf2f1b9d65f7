#include "crypto/secret_string.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace zl::crypto {
namespace {

template <typename T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};

// A secret text cannot reach a log by accident: no operator<<, no fmt
// formatter, no implicit conversion to a string type.
static_assert(Streamable<std::string>,
              "the concept itself must be able to succeed");
static_assert(!Streamable<SecretString>);
static_assert(fmt::is_formattable<std::string>::value);
static_assert(!fmt::is_formattable<SecretString>::value);
static_assert(!std::is_convertible_v<SecretString, std::string>);
static_assert(!std::is_convertible_v<SecretString, std::string_view>);
// Construction from text is explicit.
static_assert(!std::is_convertible_v<std::string_view, SecretString>);
static_assert(std::is_nothrow_move_constructible_v<SecretString>);
static_assert(std::is_nothrow_move_assignable_v<SecretString>);

// Short enough for the string's inline buffer, so its bytes live inside the
// SecretString object and can be inspected after a move or destruction.
constexpr std::string_view kShort = "open-sesame-42";
// Long enough for a heap buffer.
constexpr std::string_view kLong =
    "zlt1_a-long-secret-token-text-that-does-not-fit-inline";

// True when the object representation of `object` contains `needle`.
template <typename T>
bool BytesContain(const T& object, std::string_view needle) {
  const auto* p = reinterpret_cast<const char*>(&object);
  std::string_view bytes(p, sizeof(T));
  return bytes.find(needle) != std::string_view::npos;
}

TEST(SecretStringTest, HoldsTheTextAndViewsIt) {
  SecretString s(kLong);
  EXPECT_EQ(s.view(), kLong);
  EXPECT_EQ(s.size(), kLong.size());
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(SecretString().empty());
}

TEST(SecretStringTest, CopiesAreIndependent) {
  SecretString a(kShort);
  SecretString b(a);
  SecretString c;
  c = a;
  a.Wipe();
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(b.view(), kShort);
  EXPECT_EQ(c.view(), kShort);
  c = SecretString(kLong);
  EXPECT_EQ(c.view(), kLong);
  const SecretString& alias = c;
  c = alias;  // self-assignment keeps the text
  EXPECT_EQ(c.view(), kLong);
}

TEST(SecretStringTest, MoveLeavesTheSourceEmptyAndWiped) {
  SecretString a(kShort);
  ASSERT_TRUE(BytesContain(a, kShort)) << "the test needs an inline buffer";
  SecretString b(std::move(a));
  EXPECT_EQ(b.view(), kShort);
  EXPECT_TRUE(
      a.empty());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_FALSE(BytesContain(a, kShort.substr(1, 8)));

  SecretString c;
  c = std::move(b);
  EXPECT_EQ(c.view(), kShort);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(BytesContain(b, kShort.substr(1, 8)));

  SecretString d(kLong);
  SecretString e(std::move(d));
  EXPECT_EQ(e.view(), kLong);
  EXPECT_TRUE(d.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretStringTest, MoveAssignmentOverALongerTextLeavesNoTrace) {
  SecretString target(kShort);
  SecretString source("x");
  target = std::move(source);
  EXPECT_EQ(target.view(), "x");
  EXPECT_FALSE(BytesContain(target, kShort.substr(1, 8)));
}

TEST(SecretStringTest, DestructionWipesTheInlineBuffer) {
  alignas(SecretString) unsigned char storage[sizeof(SecretString)];
  auto* s = new (storage) SecretString(kShort);
  ASSERT_NE(
      std::string_view(reinterpret_cast<const char*>(storage), sizeof(storage))
          .find(kShort),
      std::string_view::npos);
  s->~SecretString();
  std::string_view after(reinterpret_cast<const char*>(storage),
                         sizeof(storage));
  EXPECT_EQ(after.find(kShort.substr(1, 8)), std::string_view::npos);
}

TEST(SecretStringTest, WipeEmptiesAndZeroesInPlace) {
  SecretString s(kShort);
  s.Wipe();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.view(), "");
  EXPECT_FALSE(BytesContain(s, kShort.substr(1, 8)));
  s.Wipe();  // idempotent
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace zl::crypto
