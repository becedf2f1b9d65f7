#include "version.h"

#include <fmt/core.h>

#include "crypto/library_version.h"

// Set by tools/zlayer-wg/CMakeLists.txt for this file only.
#ifndef ZL_VERSION
#error "ZL_VERSION must be defined"
#endif
#ifndef ZL_GIT_COMMIT
#define ZL_GIT_COMMIT ""
#endif
#ifndef ZL_BUILD_TYPE
#define ZL_BUILD_TYPE ""
#endif

namespace zl::wgtool {

BuildInfo CurrentBuild() {
  std::string libraries = crypto::CryptoLibraryVersion();
  libraries += fmt::format(", fmt {}.{}.{}", FMT_VERSION / 10000,
                           FMT_VERSION / 100 % 100, FMT_VERSION % 100);
#ifdef ZL_LIBMNL_VERSION
  libraries += ", libmnl " ZL_LIBMNL_VERSION;
#endif
#ifdef ZL_LIBSYSTEMD_VERSION
  libraries += ", libsystemd " ZL_LIBSYSTEMD_VERSION;
#endif
  return {ZL_VERSION, ZL_GIT_COMMIT, ZL_BUILD_TYPE, std::move(libraries)};
}

std::string VersionLine(const BuildInfo& build) {
  return fmt::format(
      "zlayer-wg {} (commit {}, {}; {})", build.version,
      build.commit.empty() ? "unknown" : build.commit,
      build.build_type.empty() ? "no build type" : build.build_type,
      build.libraries);
}

}  // namespace zl::wgtool
