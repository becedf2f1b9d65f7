#include "version.h"

#include <gtest/gtest.h>

#include <string>

namespace zl::wgtool {
namespace {

#if defined(_WIN32)
constexpr char kCryptoLibrary[] = "; libgcrypt ";
#else
constexpr char kCryptoLibrary[] = "; OpenSSL ";
#endif

TEST(VersionLineTest, NamesTheProjectVersionCommitBuildTypeAndCryptoLibrary) {
  const std::string line = VersionLine();
  EXPECT_EQ(line.rfind(std::string("zlayer-wg ") + ZL_VERSION + " (commit ", 0),
            0u)
      << line;
  EXPECT_NE(line.find(kCryptoLibrary), std::string::npos) << line;
  EXPECT_NE(line.find(", fmt "), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.back(), ')') << line;
}

TEST(VersionLineTest, BuildTypeIsTheConfiguredOne) {
  EXPECT_EQ(CurrentBuild().build_type, ZL_BUILD_TYPE);
  EXPECT_NE(VersionLine().find(", " + std::string(ZL_BUILD_TYPE) + ";"),
            std::string::npos)
      << VersionLine();
}

TEST(VersionLineTest, MissingCommitAndBuildTypeAreSaid) {
  EXPECT_EQ(VersionLine({"1.2.3", "", "", "OpenSSL 3.0.0"}),
            "zlayer-wg 1.2.3 (commit unknown, no build type; OpenSSL 3.0.0)");
  EXPECT_EQ(VersionLine({"1.2.3", "abc1234+dirty", "Release", "x 1"}),
            "zlayer-wg 1.2.3 (commit abc1234+dirty, Release; x 1)");
}

}  // namespace
}  // namespace zl::wgtool
