#include "net/wintun_adapter_win.h"

#include <gtest/gtest.h>

#include "wintun_double/wintun_double_fixture.h"

namespace zl::net {
namespace {

using WintunAdapterTest = testing::WintunDoubleTest;

TEST_F(WintunAdapterTest, CreatesTheAdapterWhenNoneExists) {
  auto adapter = WintunAdapter::Open(api_, "zl-test0");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message();
  EXPECT_TRUE((*adapter)->created());
  EXPECT_EQ((*adapter)->name(), "zl-test0");
  EXPECT_EQ(double_.AdapterCount(), 1u);
  EXPECT_NE((*adapter)->luid(), 0u);
  EXPECT_EQ((*adapter)->driver_version(), 14u);  // the double reports 0.14
}

TEST_F(WintunAdapterTest, OpensAnExistingAdapterInsteadOfCreatingASecond) {
  // Left behind by a crashed run, or made by another tool.
  WintunAdapterHandle existing = api_.CreateAdapter(L"zl-test0", L"ZLayer", nullptr);
  ASSERT_NE(existing, nullptr);
  NET_LUID luid{};
  api_.GetAdapterLuid(existing, &luid);
  auto adapter = WintunAdapter::Open(api_, "zl-test0");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message();
  EXPECT_FALSE((*adapter)->created());
  EXPECT_EQ((*adapter)->luid(), luid.Value);
  EXPECT_EQ(double_.AdapterCount(), 1u);
  adapter->reset();  // closing an adapter we only opened leaves it
  EXPECT_EQ(double_.AdapterCount(), 1u);
  api_.CloseAdapter(existing);
}

TEST_F(WintunAdapterTest, OpeningAgainAfterCloseCreatesOneAdapter) {
  for (int round = 0; round < 2; ++round) {
    auto adapter = WintunAdapter::Open(api_, "zl-test0");
    ASSERT_TRUE(adapter.ok()) << adapter.error().message();
    EXPECT_EQ(double_.AdapterCount(), 1u);
  }
}

TEST_F(WintunAdapterTest, ASecondOpenWhileTheFirstRunsFailsOnTheOneSession) {
  auto first = WintunAdapter::Open(api_, "zl-test0");
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = WintunAdapter::Open(api_, "zl-test0");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find("WintunStartSession"), std::string::npos) << second.error().message();
  EXPECT_EQ(double_.AdapterCount(), 1u);  // the failed open did not remove it
}

TEST_F(WintunAdapterTest, StartsA4MiBSession) {
  auto adapter = WintunAdapter::Open(api_, "zl-test0");
  ASSERT_TRUE(adapter.ok()) << adapter.error().message();
  EXPECT_EQ(double_.SessionCapacity(L"zl-test0"), 0x400000u);
  EXPECT_EQ((*adapter)->session().capacity(), 0x400000u);
}

TEST_F(WintunAdapterTest, RefusesABadRingCapacityBeforeAskingWintun) {
  WintunAdapterOptions options;
  options.ring_capacity = 0x30000;
  auto adapter = WintunAdapter::Open(api_, "zl-test0", options);
  ASSERT_FALSE(adapter.ok());
  EXPECT_EQ(adapter.error().code(), EINVAL);
  EXPECT_EQ(double_.AdapterCount(), 0u);
}

TEST_F(WintunAdapterTest, RefusesAnEmptyOrOverlongName) {
  EXPECT_EQ(WintunAdapter::Open(api_, "").error().code(), EINVAL);
  EXPECT_EQ(WintunAdapter::Open(api_, std::string(200, 'a')).error().code(), EINVAL);
}

TEST_F(WintunAdapterTest, DestructionEndsTheSessionThenRemovesACreatedAdapter) {
  auto adapter = WintunAdapter::Open(api_, "zl-test0");
  ASSERT_TRUE(adapter.ok());
  adapter->reset();
  EXPECT_EQ(double_.AdapterCount(), 0u);
  EXPECT_EQ(double_.SessionCapacity(L"zl-test0"), 0u);
}

// The double keeps Wintun's contract, which the adapter relies on.
TEST_F(WintunAdapterTest, DoubleKeepsWintunsSessionContract) {
  WintunAdapterHandle handle = api_.CreateAdapter(L"zl-test0", L"ZLayer", nullptr);
  ASSERT_NE(handle, nullptr);
  EXPECT_EQ(api_.CreateAdapter(L"zl-test0", L"ZLayer", nullptr), nullptr);
  EXPECT_EQ(GetLastError(), static_cast<DWORD>(ERROR_ALREADY_EXISTS));
  EXPECT_EQ(api_.OpenAdapter(L"no-such"), nullptr);
  EXPECT_EQ(GetLastError(), static_cast<DWORD>(ERROR_FILE_NOT_FOUND));
  for (DWORD bad : {0x10000u, 0x30000u, 0x8000000u}) {
    EXPECT_EQ(api_.StartSession(handle, bad), nullptr) << std::hex << bad;
    EXPECT_EQ(GetLastError(), static_cast<DWORD>(ERROR_INVALID_PARAMETER));
  }
  WintunSessionHandle session = api_.StartSession(handle, kWintunMinRingCapacity);
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(api_.StartSession(handle, kWintunMinRingCapacity), nullptr);  // one session per adapter
  // The read-wait event is auto-reset: one wait consumes one signal.
  const BYTE packet[1] = {0x45};
  ASSERT_EQ(double_.InjectReceive(L"zl-test0", packet, 1), static_cast<DWORD>(ERROR_SUCCESS));
  HANDLE event = api_.GetReadWaitEvent(session);
  EXPECT_EQ(WaitForSingleObject(event, 1000), WAIT_OBJECT_0);
  EXPECT_EQ(WaitForSingleObject(event, 0), static_cast<DWORD>(WAIT_TIMEOUT));
  api_.EndSession(session);
  api_.CloseAdapter(handle);
}

}  // namespace
}  // namespace zl::net
