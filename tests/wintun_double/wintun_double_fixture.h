#pragma once
// WintunDoubleTest: a GoogleTest fixture that loads the Wintun test double
// (wintun_double.cc) by full path, resolves its Wintun API with
// ResolveWintunApi and its test exports, and forgets all its adapters between
// tests. No signature check: the loader's own tests cover that.
//
// Windows-only, tests only.

#include <gtest/gtest.h>
#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <chrono>
#include <future>
#include <string>

#include "net/win_text_win.h"
#include "net/wintun_api_win.h"
#include "wintun_double/wintun_double_control.h"

namespace zl::net::testing {

class WintunDoubleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::wstring path = WintunDoublePath(ZL_WINTUN_DOUBLE_DIR);
    module_ = LoadLibraryExW(path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
    ASSERT_NE(module_, nullptr) << "cannot load the Wintun double " << Utf8FromWide(path) << " (error " << GetLastError() << ")";
    auto api = ResolveWintunApi(module_);
    ASSERT_TRUE(api.ok()) << api.error().message();
    api_ = *api;
    auto control = WintunDoubleControl::Of(module_);
    ASSERT_TRUE(control.has_value());
    double_ = *control;
    double_.Reset();
  }
  void TearDown() override {
    if (module_ != nullptr) FreeLibrary(module_);
  }

  HMODULE module_ = nullptr;
  WintunApi api_;
  WintunDoubleControl double_;
};

// Waits for `future` at most `limit`; true if it became ready.
template <typename T>
bool ReadyWithin(std::future<T>& future, std::chrono::milliseconds limit) {
  return future.wait_for(limit) == std::future_status::ready;
}

}  // namespace zl::net::testing
