# Cross-builds the Windows (x86_64) targets on Debian with mingw-w64:
#   cmake -S . -B build-win -G Ninja \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw-w64-x86_64.cmake
# Packages: g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix
# libgcrypt-mingw-w64-dev, and wine64 wine to run the tests
# (scripts/install-deps.sh windows). scripts/windows-test.sh builds and runs
# the tests under wine. docs/ARCHITECTURE.md, "Windows", says what builds.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

# The posix threads variant: std::thread and std::mutex need it with GCC 12.
set(ZL_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${ZL_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${ZL_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${ZL_MINGW_TRIPLE}-windres)

# Libraries and headers come from the mingw-w64 sysroot only; programs
# (the build's tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${ZL_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Self-contained executables: libstdc++, libgcc and winpthread are linked in,
# so no MinGW runtime DLL has to travel with them.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# Test programs (and gtest discovery) run under wine, headless.
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/../scripts/wine-run.sh)
