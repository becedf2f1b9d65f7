#pragma once
// zlayer-wg's version line, printed by --version and logged first at the
// verbose level:
//
//   zlayer-wg 0.1.0 (commit 9ef0a6d, Release; OpenSSL 3.0.15, fmt 9.1.0,
//   libmnl 1.0.4, libsystemd 252)
//
// (one line). The commit is the source tree's at configure time ("+dirty"
// with uncommitted changes, "unknown" outside git); OpenSSL is the library
// the process runs with; fmt, libmnl and libsystemd are the versions built
// against (they offer no run-time query).
//
// Thread safety: may be called from any thread.

#include <string>

namespace zl::wgtool {

struct BuildInfo {
  std::string version;     // PROJECT_VERSION
  std::string commit;      // short hash, "+dirty"; empty: unknown
  std::string build_type;  // CMAKE_BUILD_TYPE; empty: none given
  std::string libraries;   // "OpenSSL 3.0.15, fmt 9.1.0, ..."
};

// What this binary was built from and runs with.
BuildInfo CurrentBuild();

std::string VersionLine(const BuildInfo& build = CurrentBuild());

}  // namespace zl::wgtool
