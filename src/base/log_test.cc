#include "base/log.h"

#include <gtest/gtest.h>

#include <string>

namespace zl {
namespace {

TEST(LogLevelTest, WireguardGoNamesAndAliasesAreParsed) {
  EXPECT_EQ(ParseLogLevel("verbose"), LogLevel::kVerbose);
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kVerbose);
  EXPECT_EQ(ParseLogLevel("error"), LogLevel::kError);
  EXPECT_EQ(ParseLogLevel("info"), LogLevel::kError);
  EXPECT_EQ(ParseLogLevel("silent"), LogLevel::kSilent);
  EXPECT_EQ(ParseLogLevel("VERBOSE"), LogLevel::kVerbose);
  EXPECT_EQ(ParseLogLevel("Silent"), LogLevel::kSilent);
}

TEST(LogLevelTest, UnknownAndEmptyNamesAreNotParsed) {
  EXPECT_EQ(ParseLogLevel(""), std::nullopt);
  EXPECT_EQ(ParseLogLevel("trace"), std::nullopt);
  EXPECT_EQ(ParseLogLevel("verbose "), std::nullopt);
}

TEST(LogLevelTest, KnownEnvironmentValueSetsTheLevelWithoutWarning) {
  for (auto [value, level] : {std::pair{"verbose", LogLevel::kVerbose},
                              std::pair{"debug", LogLevel::kVerbose},
                              std::pair{"info", LogLevel::kError},
                              std::pair{"error", LogLevel::kError},
                              std::pair{"silent", LogLevel::kSilent}}) {
    SCOPED_TRACE(value);
    LogLevelChoice choice = LogLevelFromEnvironment(value);
    EXPECT_EQ(choice.level, level);
    EXPECT_TRUE(choice.warning.empty()) << choice.warning;
  }
}

TEST(LogLevelTest, EmptyEnvironmentValueKeepsTheDefaultWithAWarning) {
  LogLevelChoice choice = LogLevelFromEnvironment("");
  EXPECT_EQ(choice.level, LogLevel::kError);
  EXPECT_NE(choice.warning.find("LOG_LEVEL=''"), std::string::npos)
      << choice.warning;
}

TEST(LogLevelTest, UnknownEnvironmentValueKeepsTheDefaultWithOneLineWarning) {
  LogLevelChoice choice = LogLevelFromEnvironment("trace\nERROR: forged");
  EXPECT_EQ(choice.level, LogLevel::kError);
  EXPECT_NE(choice.warning.find("trace?ERROR"), std::string::npos)
      << choice.warning;
  EXPECT_EQ(choice.warning.find('\n'), std::string::npos);
}

TEST(LogLevelTest, LongUnknownEnvironmentValueIsShortenedInTheWarning) {
  LogLevelChoice choice = LogLevelFromEnvironment(std::string(1000, 'x'));
  EXPECT_EQ(choice.level, LogLevel::kError);
  EXPECT_LT(choice.warning.size(), 200u);
  EXPECT_NE(choice.warning.find("...'"), std::string::npos);
}

}  // namespace
}  // namespace zl
