#include "net/wintun_api_win.h"

#include <gtest/gtest.h>

#include "wintun_double/wintun_double_control.h"
#include "wintun_double/wintun_double_fixture.h"

namespace zl::net {
namespace {

using testing::WintunDoubleTest;

TEST(WintunRingCapacityTest, AcceptsPowersOfTwoWithinWintunsLimits) {
  for (uint32_t capacity : {kWintunMinRingCapacity, 0x40000u, kWintunRingCapacity, kWintunMaxRingCapacity}) {
    EXPECT_TRUE(CheckWintunRingCapacity(capacity).ok()) << std::hex << capacity;
  }
  EXPECT_EQ(kWintunRingCapacity, 4u * 1024 * 1024);
}

TEST(WintunRingCapacityTest, RefusesOutOfRangeAndNonPowersOfTwo) {
  for (uint32_t capacity : {0u, 1u, 0x10000u, 0x1FFFFu, 0x30000u, 0x400001u, 0x8000000u, 0xFFFFFFFFu}) {
    auto r = CheckWintunRingCapacity(capacity);
    ASSERT_FALSE(r.ok()) << std::hex << capacity;
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find("power of two"), std::string::npos) << r.error().message();
  }
}

TEST_F(WintunDoubleTest, ResolvesEveryWintunExport) {
  EXPECT_EQ(WintunExportNames().size(), 14u);
  EXPECT_NE(api_.CreateAdapter, nullptr);
  EXPECT_NE(api_.SendPacket, nullptr);
  EXPECT_NE(api_.GetReadWaitEvent, nullptr);
}

TEST(WintunApiTest, MissingExportIsNamedInTheError) {
  const std::wstring path = testing::WintunDoublePath(ZL_WINTUN_DOUBLE_MISSING_EXPORT_DIR);
  HMODULE module = LoadLibraryExW(path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  ASSERT_NE(module, nullptr);
  auto api = ResolveWintunApi(module);
  FreeLibrary(module);
  ASSERT_FALSE(api.ok());
  EXPECT_EQ(api.error().code(), ENOENT);
  EXPECT_NE(api.error().message().find("WintunSendPacket"), std::string::npos) << api.error().message();
  EXPECT_EQ(api.error().message().find("WintunAllocateSendPacket,"), std::string::npos) << api.error().message();
}

}  // namespace
}  // namespace zl::net
