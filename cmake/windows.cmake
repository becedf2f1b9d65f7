# The Windows build, cross-compiled with mingw-w64
# (cmake/toolchain-mingw-w64-x86_64.cmake) and tested under wine
# (scripts/windows-test.sh). Issue 10: the portable core (the layers base,
# crypto and wg with their unit tests); of net, the Wintun adapter with its
# test double and named pipes; uapi with its named-pipe server; device's
# headers. The device itself, overlay, the tools, install/package and the
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
foreach(lib fmt nlohmann CLI)
  if(NOT EXISTS /usr/include/${lib})
    message(FATAL_ERROR "/usr/include/${lib} is missing: apt-get install libfmt-dev nlohmann-json3-dev libcli11-dev")
  endif()
  file(CREATE_LINK /usr/include/${lib} ${ZL_WIN_THIRD_PARTY_INC}/${lib} SYMBOLIC)
endforeach()
add_library(fmt::fmt INTERFACE IMPORTED)
target_include_directories(fmt::fmt SYSTEM INTERFACE ${ZL_WIN_THIRD_PARTY_INC})
target_compile_definitions(fmt::fmt INTERFACE FMT_HEADER_ONLY)
add_library(CLI11::CLI11 INTERFACE IMPORTED)
target_include_directories(CLI11::CLI11 SYSTEM INTERFACE ${ZL_WIN_THIRD_PARTY_INC})
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
  EXCLUDE aead.cc blake2s.cc keys.cc library_version.cc random_linux.cc siphash.cc x25519.cc
          aead_sodium_test.cc library_version_test.cc random_sodium_test.cc
          siphash_openssl_test.cc x25519_sodium_test.cc
  ADD backend_gcrypt.cc aead_gcrypt.cc blake2s_gcrypt.cc keys_win.cc random_win.cc
      library_version_gcrypt.cc siphash_gcrypt.cc x25519_gcrypt.cc
      library_version_gcrypt_test.cc siphash_gcrypt_test.cc)

zl_layer(wg DEPS crypto base)

# net: on Windows, the Windows files (*_win) and the shared ones listed here;
# the Linux TUN, netlink, epoll loop and sockets are not built.
# docs/ARCHITECTURE.md, "Windows", says what each file is. One file a line.
zl_layer(net DEPS base ws2_32 wintrust crypt32 shell32 ole32 advapi32 iphlpapi ADD_ONLY
  ADD
    bind.cc
    bind_test.cc
    command_line.cc
    command_line_test.cc
    console_signals_win.cc
    event_loop_win.cc
    event_loop_win_test.cc
    interface_config.cc
    interface_config_test.cc
    ip_helper_win.cc
    ip_helper_win_test.cc
    known_paths_win.cc
    named_pipe_win.cc
    named_pipe_win_test.cc
    shared_port.cc
    shared_port_test.cc
    sockaddr.cc
    system_service_win.cc
    timer_queue.cc
    timer_queue_test.cc
    tun_device.cc
    win32_error_win.cc
    win32_error_win_test.cc
    win_text_win.cc
    winsock_bind_win.cc
    winsock_bind_win_test.cc
    winsock_win.cc
    wintun_adapter_win.cc
    wintun_adapter_win_test.cc
    wintun_api_win.cc
    wintun_api_win_test.cc
    wintun_session_win.cc
    wintun_session_win_test.cc
    wintun_signature_win.cc
    wintun_signature_win_test.cc
    wintun_tun_win.cc
    wintun_tun_win_test.cc
)

# device: the same device on the Windows loop, Wintun and Winsock. Its unit
# test drives a socketpair-backed fake TUN (Linux); on Windows the device is
# tested end to end (tests/windows/e2e.sh).
zl_layer(device DEPS net crypto base PRIVATE_DEPS wg fmt::fmt
  EXCLUDE device_test.cc)

# uapi: the codec and the named-pipe server (pipe_server.cc) instead of the
# unix-socket server; the tests that need unix sockets, malloc hooks or a
# Linux interface name ("lo") stay Linux-only.
zl_layer(uapi DEPS device net base
  EXCLUDE server.cc server_test.cc server_adopt_test.cc wipe_test.cc codec_test.cc
  ADD pipe_server.cc pipe_server_test.cc)

# The loader (wintun_loader_win.cc) is compiled twice: with the signature
# check (zl_wintun_loader_verify) and without it (zl_wintun_loader_allow_unsigned,
# for tests). Programs link zl_wintun_loader, which is the first unless
# ZL_WINTUN_ALLOW_UNSIGNED is ON; release builds and packages never set it.
option(ZL_WINTUN_ALLOW_UNSIGNED
       "Load wintun.dll without checking its signature (tests only: loads the test double)" OFF)
foreach(variant verify allow_unsigned)
  add_library(zl_wintun_loader_${variant} STATIC src/net/wintun_loader_win.cc
              src/net/system_tun_win.cc)
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
  # The service tests talk to wine's one service manager: they are a program
  # of their own, run as one ctest test that never overlaps another user of
  # the SCM (tests started at the same moment can each start a services.exe
  # under wine, and then see different service databases). service_probe is
  # the service they install and run, next to them.
  add_executable(service_probe tests/service_probe/service_probe.cc)
  target_link_libraries(service_probe PRIVATE zl_net)
  target_compile_options(service_probe PRIVATE ${ZL_WARNINGS})
  add_executable(system_service_test src/net/system_service_win_test.cc)
  target_link_libraries(system_service_test PRIVATE zl_net GTest::gtest GTest::gtest_main)
  target_compile_options(system_service_test PRIVATE ${ZL_WARNINGS})
  add_dependencies(system_service_test service_probe)
  add_test(NAME net.system_service_test COMMAND system_service_test)
  set_tests_properties(net.system_service_test PROPERTIES LABELS unit TIMEOUT 180
                       RESOURCE_LOCK wine_service_manager)

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

# zlayer-wg.exe (tools/zlayer-wg/main_win.cc), and for tests its build that
# loads the Wintun double, with the named-pipe client of the end-to-end test.
add_subdirectory(tools/zlayer-wg)
