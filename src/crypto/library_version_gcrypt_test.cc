#include <gcrypt.h>
#include <gtest/gtest.h>

#include <regex>

#include "crypto/library_version.h"

namespace zl::crypto {
namespace {

TEST(CryptoLibraryVersionGcryptTest, IsLibgcryptAndDottedVersion) {
  const std::string v = CryptoLibraryVersion();
  EXPECT_TRUE(std::regex_match(v, std::regex(R"(libgcrypt \d+\.\d+\.\d+\S*)"))) << v;
}

TEST(CryptoLibraryVersionGcryptTest, RunningLibraryIsAtLeastTheHeaders) {
  const std::string v = CryptoLibraryVersion();
  EXPECT_EQ(v, std::string("libgcrypt ") + gcry_check_version(nullptr));
  EXPECT_NE(gcry_check_version(GCRYPT_VERSION), nullptr);
}

}  // namespace
}  // namespace zl::crypto
