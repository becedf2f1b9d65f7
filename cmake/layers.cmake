# zl_layer(NAME DEPS dep...)
#
# Builds src/NAME/*.cc (minus *_test.cc, *_fuzz.cc, *_bench.cc) into the static
# library zl_NAME. Headers are included as "NAME/file.h"; each layer gets its own
# include root (${CMAKE_BINARY_DIR}/inc/NAME/NAME -> src/NAME), so a layer can only
# include the headers of the layers it links against.
#
# Tests: src/NAME/*_test.cc become one GoogleTest binary NAME_test, label "unit".
# Fuzzers: src/NAME/*_fuzz.cc become one libFuzzer binary each when ZL_FUZZ=ON.
#
# Platform files: *_win.cc and *_gcrypt.cc (and their *_test.cc) are Windows
# sources; the glob never takes them. The Windows build (cmake/windows.cmake)
# names them explicitly: ADD file... compiles them (tests too), EXCLUDE file...
# drops the Linux files they replace; ADD_ONLY builds the layer from the ADD
# list alone (a layer whose Windows port has only its own files so far).
set(ZL_TEST_EXTRA_LIBS_crypto PkgConfig::SODIUM nlohmann_json::nlohmann_json)
set(ZL_TEST_EXTRA_LIBS_wg nlohmann_json::nlohmann_json)
set(ZL_TEST_EXTRA_LIBS_device zl_wg)
set(ZL_TEST_EXTRA_LIBS_uapi nlohmann_json::nlohmann_json)

function(zl_layer name)
  cmake_parse_arguments(ARG "ADD_ONLY" "" "DEPS;PRIVATE_DEPS;ADD;EXCLUDE" ${ARGN})
  # Layer names (base, crypto, ...) stand for their zl_ targets.
  foreach(kind DEPS PRIVATE_DEPS)
    set(mapped)
    foreach(d ${ARG_${kind}})
      if(TARGET zl_${d})
        list(APPEND mapped zl_${d})
      else()
        list(APPEND mapped ${d})
      endif()
    endforeach()
    set(ARG_${kind} ${mapped})
  endforeach()
  set(dir ${CMAKE_SOURCE_DIR}/src/${name})
  set(inc ${CMAKE_BINARY_DIR}/inc/${name})
  file(MAKE_DIRECTORY ${inc})
  file(CREATE_LINK ${dir} ${inc}/${name} SYMBOLIC)

  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_(test|fuzz|bench)\\.cc$")
  file(GLOB tests CONFIGURE_DEPENDS ${dir}/*_test.cc)
  file(GLOB netns_tests CONFIGURE_DEPENDS ${dir}/*_netns_test.cc)
  list(FILTER tests EXCLUDE REGEX "_netns_test\\.cc$")
  file(GLOB fuzzers CONFIGURE_DEPENDS ${dir}/*_fuzz.cc)
  foreach(var srcs tests)
    list(FILTER ${var} EXCLUDE REGEX "_(win|gcrypt)(_test)?\\.cc$")
  endforeach()
  if(ARG_ADD_ONLY)
    set(srcs)
    set(tests)
    set(netns_tests)
    set(fuzzers)
  endif()
  foreach(f ${ARG_EXCLUDE})
    list(REMOVE_ITEM srcs ${dir}/${f})
    list(REMOVE_ITEM tests ${dir}/${f})
  endforeach()
  foreach(f ${ARG_ADD})
    if(f MATCHES "_test\\.cc$")
      list(APPEND tests ${dir}/${f})
    else()
      list(APPEND srcs ${dir}/${f})
    endif()
  endforeach()

  if(srcs)
    add_library(zl_${name} STATIC ${srcs})
    # Installed, the headers live under include/zlayer/NAME (cmake/install.cmake).
    target_include_directories(zl_${name} PUBLIC $<BUILD_INTERFACE:${inc}>
                                                 $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/zlayer>)
    target_link_libraries(zl_${name} PUBLIC ${ARG_DEPS} fmt::fmt PRIVATE ${ARG_PRIVATE_DEPS})
    target_compile_options(zl_${name} PRIVATE ${ZL_WARNINGS})
  else()
    add_library(zl_${name} INTERFACE)
    target_include_directories(zl_${name} INTERFACE $<BUILD_INTERFACE:${inc}>
                                                    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/zlayer>)
    target_link_libraries(zl_${name} INTERFACE ${ARG_DEPS} fmt::fmt)
  endif()
  add_library(zl::${name} ALIAS zl_${name})
  # find_package(ZlayerOverlay) names it ZlayerOverlay::NAME.
  set_target_properties(zl_${name} PROPERTIES EXPORT_NAME ${name})

  if(tests AND BUILD_TESTING AND NOT ZL_FUZZ)
    add_executable(${name}_test ${tests})
    target_link_libraries(${name}_test PRIVATE zl_${name} zl_test_support
                          ${ZL_TEST_EXTRA_LIBS_${name}} GTest::gtest GTest::gmock GTest::gtest_main)
    target_compile_options(${name}_test PRIVATE ${ZL_WARNINGS})
    # GoogleTest's headers dominate a test's compile time: parse them once.
    target_precompile_headers(${name}_test PRIVATE <gtest/gtest.h> <gmock/gmock.h>)
    target_compile_definitions(${name}_test PRIVATE
      ZL_SOURCE_DIR="${CMAKE_SOURCE_DIR}" ZL_BINARY_DIR="${CMAKE_BINARY_DIR}")
    if(CMAKE_CROSSCOMPILING)
      # Listing the tests runs the binary (under the emulator, wine): at test
      # time, not at build time.
      gtest_discover_tests(${name}_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 120
                           DISCOVERY_MODE PRE_TEST)
    else()
      gtest_discover_tests(${name}_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
    endif()
  endif()

  # *_netns_test.cc need root, TUN and network namespaces: one binary per
  # layer, label "netns", run serially. Each test process moves itself into a
  # private network namespace (tests/support/netns.h), which the kernel
  # removes when the process exits, even on a crash.
  if(netns_tests AND BUILD_TESTING AND NOT ZL_FUZZ)
    add_executable(${name}_netns_test ${netns_tests})
    target_link_libraries(${name}_netns_test PRIVATE zl_${name} zl_test_support
                          GTest::gtest GTest::gmock GTest::gtest_main)
    target_compile_options(${name}_netns_test PRIVATE ${ZL_WARNINGS})
    target_compile_definitions(${name}_netns_test PRIVATE
      ZL_SOURCE_DIR="${CMAKE_SOURCE_DIR}" ZL_BINARY_DIR="${CMAKE_BINARY_DIR}")
    add_test(NAME ${name}_netns_test COMMAND ${name}_netns_test)
    set_tests_properties(${name}_netns_test PROPERTIES LABELS netns RUN_SERIAL ON TIMEOUT 300)
  endif()

  if(ZL_FUZZ)
    foreach(f ${fuzzers})
      get_filename_component(fname ${f} NAME_WE)
      add_executable(${fname} ${f})
      target_link_libraries(${fname} PRIVATE zl_${name})
      target_compile_options(${fname} PRIVATE ${ZL_WARNINGS} -fsanitize=fuzzer)
      target_link_options(${fname} PRIVATE -fsanitize=fuzzer)
      add_test(NAME fuzz.${fname}
               COMMAND ${CMAKE_SOURCE_DIR}/scripts/run-fuzzer.sh $<TARGET_FILE:${fname}>
                       ${CMAKE_SOURCE_DIR}/fuzz/corpus/${fname} ${ZL_FUZZ_SECONDS})
      set_tests_properties(fuzz.${fname} PROPERTIES LABELS fuzz TIMEOUT 600)
    endforeach()
  endif()
endfunction()
