# The Windows build, cross-compiled with mingw-w64
# (cmake/toolchain-mingw-w64-x86_64.cmake) and tested under wine
# (scripts/windows-test.sh). Issue 10, first step: the portable core only,
# the layers base, crypto and wg with their unit tests. net, device, uapi,
# overlay, the tools, install/package and the benchmarks are Linux-only for now.
#
# Crypto on Windows is libgcrypt (Debian's libgcrypt-mingw-w64-dev): Debian
# ships no OpenSSL for mingw. docs/ARCHITECTURE.md, "Windows", says why and
# what differs (SipHash).

find_package(Threads REQUIRED)

# --- third-party code without a mingw package ----------------------------------
# fmt and nlohmann_json: header-only, from the host's Debian headers. Only their
# directories are put on the include path (never /usr/include itself, whose
# glibc headers would shadow mingw's).
set(ZL_WIN_THIRD_PARTY_INC ${CMAKE_BINARY_DIR}/third_party/include)
file(MAKE_DIRECTORY ${ZL_WIN_THIRD_PARTY_INC})
foreach(lib fmt nlohmann)
  if(NOT EXISTS /usr/include/${lib})
    message(FATAL_ERROR "/usr/include/${lib} is missing: apt-get install libfmt-dev nlohmann-json3-dev")
  endif()
  file(CREATE_LINK /usr/include/${lib} ${ZL_WIN_THIRD_PARTY_INC}/${lib} SYMBOLIC)
endforeach()
add_library(fmt::fmt INTERFACE IMPORTED)
target_include_directories(fmt::fmt SYSTEM INTERFACE ${ZL_WIN_THIRD_PARTY_INC})
target_compile_definitions(fmt::fmt INTERFACE FMT_HEADER_ONLY)
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
target_include_directories(nlohmann_json::nlohmann_json SYSTEM INTERFACE ${ZL_WIN_THIRD_PARTY_INC})

# libgcrypt and libgpg-error, linked statically (the exe needs no DLL of theirs).
find_path(ZL_GCRYPT_INCLUDE_DIR gcrypt.h REQUIRED)
find_library(ZL_GCRYPT_LIBRARY NAMES libgcrypt.a REQUIRED)
find_library(ZL_GPG_ERROR_LIBRARY NAMES libgpg-error.a REQUIRED)
add_library(zl_gcrypt INTERFACE)
target_include_directories(zl_gcrypt SYSTEM INTERFACE ${ZL_GCRYPT_INCLUDE_DIR})
target_link_libraries(zl_gcrypt INTERFACE ${ZL_GCRYPT_LIBRARY} ${ZL_GPG_ERROR_LIBRARY} ws2_32)

# GoogleTest from Debian's sources (package googletest), built by the cross
# compiler. Its CMake defines the names find_package(GTest) gives on Linux
# (GTest::gtest, GTest::gmock, GTest::gtest_main).
if(BUILD_TESTING)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
endif()

# --- the layers ----------------------------------------------------------------
# Each list names the Linux files a Windows file replaces (EXCLUDE) and the
# Windows files (ADD); every other file of the layer is shared.
set(ZL_TEST_EXTRA_LIBS_crypto nlohmann_json::nlohmann_json)

zl_layer(base DEPS Threads::Threads ws2_32 iphlpapi
  EXCLUDE clock.cc unique_fd.cc
          clock_test.cc unique_fd_test.cc
  ADD clock_win.cc
      clock_win_test.cc)

zl_layer(crypto DEPS base zl_gcrypt bcrypt
  # OpenSSL, getrandom(2) and the libsodium/OpenSSL oracles of the tests.
  EXCLUDE aead.cc blake2s.cc keys.cc openssl_version.cc random_linux.cc siphash.cc x25519.cc
          aead_sodium_test.cc openssl_version_test.cc random_sodium_test.cc
          siphash_openssl_test.cc x25519_sodium_test.cc
  ADD backend_gcrypt.cc aead_gcrypt.cc blake2s_gcrypt.cc keys_win.cc random_win.cc
      siphash_gcrypt.cc x25519_gcrypt.cc
      siphash_gcrypt_test.cc)

zl_layer(wg DEPS crypto base)
