#include "crypto/library_version.h"

#include <openssl/crypto.h>

#include <string_view>

namespace zl::crypto {

std::string CryptoLibraryVersion() {
  // OpenSSL_version(OPENSSL_VERSION) is "OpenSSL 3.0.15 3 Sep 2024": keep
  // the first two words.
  std::string_view text = OpenSSL_version(OPENSSL_VERSION);
  size_t space = text.find(' ');
  if (space != std::string_view::npos) space = text.find(' ', space + 1);
  return std::string(text.substr(0, space));
}

}  // namespace zl::crypto
