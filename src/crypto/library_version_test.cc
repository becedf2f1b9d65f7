#include "crypto/library_version.h"

#include <gtest/gtest.h>
#include <openssl/opensslv.h>

#include <regex>

namespace zl::crypto {
namespace {

TEST(CryptoLibraryVersionTest, IsNameAndDottedVersionWithoutBuildDate) {
  const std::string v = CryptoLibraryVersion();
  EXPECT_TRUE(std::regex_match(v, std::regex(R"(OpenSSL \d+\.\d+\.\d+\S*)")))
      << v;
}

TEST(CryptoLibraryVersionTest, RuntimeMajorVersionMatchesTheHeaders) {
  const std::string v = CryptoLibraryVersion();
  EXPECT_EQ(
      v.rfind("OpenSSL " + std::to_string(OPENSSL_VERSION_MAJOR) + ".", 0), 0u)
      << v;
}

}  // namespace
}  // namespace zl::crypto
