#include "net/wintun_signature_win.h"

#include <gtest/gtest.h>

#include "net/unique_handle_win.h"
#include "net/win_text_win.h"
#include "wintun_double/wintun_double_control.h"

namespace zl::net {
namespace {

// wine's WinVerifyTrust answers TRUST_E_NOSIGNATURE for an unsigned file, as
// Windows does. (A validly signed file cannot be made here: see
// docs/ARCHITECTURE.md, "Windows".)
TEST(WintunSignatureTest, RefusesTheUnsignedDoubleNamingTheFileAndTheReason) {
  const std::wstring path = testing::WintunDoublePath(ZL_WINTUN_DOUBLE_DIR);
  UniqueHandle file(CreateFileW(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                                FILE_ATTRIBUTE_NORMAL, nullptr));
  ASSERT_TRUE(file.valid());
  auto r = VerifyWintunSignature(path, file.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EACCES);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("not signed"), std::string::npos) << m;
  EXPECT_NE(m.find(Utf8FromWide(path)), std::string::npos) << m;
  EXPECT_NE(m.find("WireGuard LLC"), std::string::npos) << m;
}

TEST(WintunSignatureTest, RefusesAFileThatIsNotAnExecutable) {
  wchar_t dir[MAX_PATH];
  ASSERT_GT(GetTempPathW(MAX_PATH, dir), 0u);
  const std::wstring path = std::wstring(dir) + L"zl_not_a_dll_" + std::to_wstring(GetCurrentProcessId()) + L".dll";
  {
    UniqueHandle out(CreateFileW(path.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL,
                                 nullptr));
    ASSERT_TRUE(out.valid());
    DWORD written = 0;
    ASSERT_TRUE(WriteFile(out.get(), "MZ not really", 13, &written, nullptr));
  }
  UniqueHandle file(CreateFileW(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                                FILE_ATTRIBUTE_NORMAL, nullptr));
  auto r = VerifyWintunSignature(path, file.get());
  file.Reset();
  DeleteFileW(path.c_str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EACCES);
}

}  // namespace
}  // namespace zl::net
