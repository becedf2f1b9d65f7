#include "base/quote.h"

#include <gtest/gtest.h>

#include <string>

namespace zl {
namespace {

TEST(QuoteTest, PrintableTextIsQuotedAsItIs) {
  EXPECT_EQ(Quote("eth0"), "'eth0'");
  EXPECT_EQ(Quote(""), "''");
  EXPECT_EQ(Quote("[fe80::1%lo]:1"), "'[fe80::1%lo]:1'");
}

TEST(QuoteTest, OtherBytesQuoteAndBackslashAreHexEscaped) {
  EXPECT_EQ(Quote(std::string("a\nb\0c", 5)), "'a\\x0ab\\x00c'");
  EXPECT_EQ(Quote("it's"), "'it\\x27s'");
  EXPECT_EQ(Quote("a\\b"), "'a\\x5cb'");
  EXPECT_EQ(Quote("\xff\x7f"), "'\\xff\\x7f'");
}

TEST(QuoteTest, LongTextIsCutAfterTheBound) {
  EXPECT_EQ(Quote(std::string(kMaxQuotedBytes, 'x')),
            "'" + std::string(kMaxQuotedBytes, 'x') + "'");
  EXPECT_EQ(Quote(std::string(kMaxQuotedBytes + 1, 'x')),
            "'" + std::string(kMaxQuotedBytes, 'x') + "...'");
  EXPECT_EQ(Quote("abcdef", 3), "'abc...'");
}

}  // namespace
}  // namespace zl
