#pragma once
// OpenSslVersion: the version of the OpenSSL library this process runs with
// (not the headers it was built against), for --version and the first
// verbose log line.
//
// Thread safety: may be called from any thread.

#include <string>

namespace zl::crypto {

// "OpenSSL 3.0.15": the library's name and version, without its build date.
std::string OpenSslVersion();

}  // namespace zl::crypto
