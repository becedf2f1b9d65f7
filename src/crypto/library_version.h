#pragma once
// CryptoLibraryVersion: the name and version of the crypto library this
// process runs with (not the headers it was built against), for --version and
// the first verbose log line: "OpenSSL 3.0.15" on Linux, "libgcrypt 1.10.1"
// on Windows (docs/ARCHITECTURE.md, "Windows").
//
// Thread safety: may be called from any thread.

#include <string>

namespace zl::crypto {

// The library's name and dotted version, without its build date.
std::string CryptoLibraryVersion();

}  // namespace zl::crypto
