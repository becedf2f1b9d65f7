#include "net/command_line.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zl::net {
namespace {

// The C runtime's parsing of one argument (the rules of
// CommandLineToArgvW for arguments after the first), to check the quoting
// round-trips.
std::vector<std::string> ParseArguments(std::string_view line) {
  std::vector<std::string> args;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size()) break;
    std::string arg;
    bool quoted = false;
    for (; i < line.size(); ++i) {
      char c = line[i];
      if (!quoted && (c == ' ' || c == '\t')) break;
      if (c == '\\') {
        size_t n = 0;
        while (i < line.size() && line[i] == '\\') ++n, ++i;
        if (i < line.size() && line[i] == '"') {
          arg.append(n / 2, '\\');
          if (n % 2 == 1) {
            arg += '"';
          } else {
            quoted = !quoted;
          }
        } else {
          arg.append(n, '\\');
          --i;
        }
        continue;
      }
      if (c == '"') {
        quoted = !quoted;
        continue;
      }
      arg += c;
    }
    args.push_back(arg);
  }
  return args;
}

TEST(QuoteCommandLineArgumentTest, PlainArgumentIsUnchanged) {
  EXPECT_EQ(QuoteCommandLineArgument("wg0"), "wg0");
  EXPECT_EQ(QuoteCommandLineArgument(R"(C:\Program\zlayer-wg.exe)"), R"(C:\Program\zlayer-wg.exe)");
}

TEST(QuoteCommandLineArgumentTest, SpacesAndEmptyAreQuoted) {
  EXPECT_EQ(QuoteCommandLineArgument(R"(C:\Program Files\z.exe)"), R"("C:\Program Files\z.exe")");
  EXPECT_EQ(QuoteCommandLineArgument(""), R"("")");
}

TEST(QuoteCommandLineArgumentTest, QuotesAndTrailingBackslashesAreEscaped) {
  EXPECT_EQ(QuoteCommandLineArgument(R"(a "b")"), R"("a \"b\"")");
  EXPECT_EQ(QuoteCommandLineArgument(R"(C:\dir with space\)"), R"("C:\dir with space\\")");
  EXPECT_EQ(QuoteCommandLineArgument(R"(a\"b c)"), R"("a\\\"b c")");
}

TEST(QuoteCommandLineArgumentTest, EveryTrickyArgumentRoundTrips) {
  const std::vector<std::string> cases = {
      "plain", "", " ", "two words", R"(\)", R"(\\)", R"(")", R"(\")", R"(a\\"b)",
      "tab\there", R"(C:\Program Files\ZLayer\)", R"(end\\)", R"(mid\dle)", "\"\"",
  };
  std::string line;
  for (const auto& c : cases) line += QuoteCommandLineArgument(c) + " ";
  EXPECT_EQ(ParseArguments(line), cases) << line;
}

}  // namespace
}  // namespace zl::net
