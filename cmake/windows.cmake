# The Windows build, cross-compiled with mingw-w64
# (cmake/toolchain-mingw-w64-x86_64.cmake) and tested under wine
# (scripts/windows-test.sh). Issue 10: the portable core (the layers base,
# crypto and wg with their unit tests) and, of net, the Wintun adapter with its
# test double. device, uapi, overlay, the tools, install/package and the
# benchmarks are Linux-only for now.
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

# net: the Wintun adapter (issue 10, second step) and the Winsock UDP bind.
# The Linux TUN, netlink, epoll loop and sockets are not built; the neutral
# bind.cc, shared_port.cc and sockaddr.cc, and the Bind contract tests
# (bind_test.cc), are shared. docs/ARCHITECTURE.md, "Windows", says
# what each file is.
zl_layer(net DEPS base ws2_32 wintrust crypt32 shell32 ole32 ADD_ONLY
  ADD bind.cc shared_port.cc sockaddr.cc
      known_paths_win.cc win32_error_win.cc win_text_win.cc winsock_win.cc winsock_bind_win.cc
      wintun_api_win.cc wintun_signature_win.cc wintun_session_win.cc wintun_adapter_win.cc
      bind_test.cc shared_port_test.cc win32_error_win_test.cc winsock_bind_win_test.cc
      wintun_api_win_test.cc wintun_signature_win_test.cc wintun_session_win_test.cc
      wintun_adapter_win_test.cc)

# The loader (wintun_loader_win.cc) is compiled twice: with the signature
# check (zl_wintun_loader_verify) and without it (zl_wintun_loader_allow_unsigned,
# for tests). Programs link zl_wintun_loader, which is the first unless
# ZL_WINTUN_ALLOW_UNSIGNED is ON; release builds and packages never set it.
option(ZL_WINTUN_ALLOW_UNSIGNED
       "Load wintun.dll without checking its signature (tests only: loads the test double)" OFF)
foreach(variant verify allow_unsigned)
  add_library(zl_wintun_loader_${variant} STATIC src/net/wintun_loader_win.cc)
  target_link_libraries(zl_wintun_loader_${variant} PUBLIC zl_net)
  target_compile_options(zl_wintun_loader_${variant} PRIVATE ${ZL_WARNINGS})
endforeach()
target_compile_definitions(zl_wintun_loader_allow_unsigned PRIVATE ZL_WINTUN_ALLOW_UNSIGNED)
if(ZL_WINTUN_ALLOW_UNSIGNED)
  message(WARNING "ZL_WINTUN_ALLOW_UNSIGNED: wintun.dll's signature is not checked (tests only)")
  add_library(zl_wintun_loader ALIAS zl_wintun_loader_allow_unsigned)
else()
  add_library(zl_wintun_loader ALIAS zl_wintun_loader_verify)
endif()

if(BUILD_TESTING)
  # The Wintun test double (wintun.dll, and one without WintunSendPacket).
  add_subdirectory(tests/wintun_double)
  # The tests find the doubles relative to their own executable's directory.
  function(zl_wintun_double_definitions target exe_dir)
    file(RELATIVE_PATH full ${exe_dir} ${ZL_WINTUN_DOUBLE_DIR})
    file(RELATIVE_PATH missing ${exe_dir} ${ZL_WINTUN_DOUBLE_MISSING_EXPORT_DIR})
    target_compile_definitions(${target} PRIVATE ZL_WINTUN_DOUBLE_DIR="${full}"
                               ZL_WINTUN_DOUBLE_MISSING_EXPORT_DIR="${missing}")
    add_dependencies(${target} wintun_double wintun_double_missing_export)
  endfunction()
  zl_wintun_double_definitions(net_test ${CMAKE_CURRENT_BINARY_DIR})

  # One program per loader variant, each in a directory of its own ("next to
  # the executable" is one of the places searched). Both put the double in the
  # prefix's ProgramData, so they never run at the same time, and each runs
  # as one ctest test (its cases in one process, in order).
  foreach(variant verify allow_unsigned)
    set(exe wintun_loader_${variant}_test)
    set(dir ${CMAKE_CURRENT_BINARY_DIR}/${exe})
    add_executable(${exe} src/net/wintun_loader_win_test.cc)
    target_link_libraries(${exe} PRIVATE zl_wintun_loader_${variant} zl_test_support GTest::gtest
                          GTest::gtest_main)
    target_compile_options(${exe} PRIVATE ${ZL_WARNINGS})
    set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${dir})
    zl_wintun_double_definitions(${exe} ${dir})
    add_test(NAME net.${exe} COMMAND ${exe})
    set_tests_properties(net.${exe} PROPERTIES LABELS unit TIMEOUT 120 RESOURCE_LOCK wintun_search_locations)
  endforeach()
  target_compile_definitions(wintun_loader_verify_test PRIVATE ZL_LOADER_TEST_ALLOWS_UNSIGNED=0)
  target_compile_definitions(wintun_loader_allow_unsigned_test PRIVATE ZL_LOADER_TEST_ALLOWS_UNSIGNED=1)
endif()
