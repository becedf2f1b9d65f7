// The loader's tests, built twice (cmake/windows.cmake): wintun_loader_test
// with the signature check, wintun_loader_allow_unsigned_test with
// ZL_WINTUN_ALLOW_UNSIGNED. Each puts the (unsigned) test double at the
// search locations in turn: the ProgramData one is the prefix's real
// ProgramData, so the two programs hold a ctest RESOURCE_LOCK and every test
// removes what it placed.
#include "net/wintun_loader_win.h"

#include <gtest/gtest.h>

#include <vector>

#include "net/known_paths_win.h"
#include "net/wintun_adapter_win.h"
#include "net/win_text_win.h"
#include "wintun_double/wintun_double_control.h"

namespace zl::net {
namespace {

// Which loader this program links (cmake/windows.cmake sets it to 0 or 1).
constexpr bool kAllowUnsigned = ZL_LOADER_TEST_ALLOWS_UNSIGNED;

enum Location { kProgramData = 0, kNextToExe = 1, kWorkingDir = 2 };

class WintunLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto original = CurrentDirectory();
    ASSERT_TRUE(original.ok());
    original_cwd_ = *original;
    wchar_t temp[MAX_PATH];
    ASSERT_GT(GetTempPathW(MAX_PATH, temp), 0u);
    temp_ = JoinPath(temp, L"zl_wintun_loader_" + std::to_wstring(GetCurrentProcessId()));
    CreateDirectoryW(temp_.c_str(), nullptr);
    ASSERT_TRUE(SetCurrentDirectoryW(temp_.c_str()));
    auto paths = WintunSearchPaths();
    ASSERT_TRUE(paths.ok()) << paths.error().message();
    paths_ = *paths;
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(GetFileAttributesW(paths_[i].c_str()), INVALID_FILE_ATTRIBUTES)
          << Utf8FromWide(paths_[i]) << " exists before the test; remove it";
    }
  }
  void TearDown() override {
    for (const std::wstring& file : placed_) DeleteFileW(file.c_str());
    for (auto it = made_dirs_.rbegin(); it != made_dirs_.rend(); ++it) RemoveDirectoryW(it->c_str());
    SetCurrentDirectoryW(original_cwd_.c_str());
    RemoveDirectoryW(temp_.c_str());
  }

  void Place(Location where, const char* double_dir = ZL_WINTUN_DOUBLE_DIR) {
    const std::wstring& target = paths_[where];
    if (where == kProgramData) {
      // %ProgramData%\ZLayer\wintun
      const std::wstring wintun_dir = target.substr(0, target.find_last_of(L'\\'));
      const std::wstring zlayer_dir = wintun_dir.substr(0, wintun_dir.find_last_of(L'\\'));
      for (const std::wstring& dir : {zlayer_dir, wintun_dir}) {
        if (CreateDirectoryW(dir.c_str(), nullptr)) made_dirs_.push_back(dir);
      }
    }
    ASSERT_TRUE(CopyFileW(testing::WintunDoublePath(double_dir).c_str(), target.c_str(), TRUE))
        << "copying the double to " << Utf8FromWide(target) << ": error " << GetLastError();
    placed_.push_back(target);
  }

  // Loads, and checks that the file found at `where` was taken: loaded in the
  // ALLOW_UNSIGNED build, refused (never loaded) in the normal one.
  void ExpectTaken(Location where) {
    auto library = WintunLibrary::Load();
    const std::string path = Utf8FromWide(paths_[where]);
    if (kAllowUnsigned) {
      ASSERT_TRUE(library.ok()) << library.error().message();
      EXPECT_EQ((*library)->path(), paths_[where]);
    } else {
      ASSERT_FALSE(library.ok());
      EXPECT_EQ(library.error().code(), EACCES);
      EXPECT_NE(library.error().message().find(path), std::string::npos) << library.error().message();
      EXPECT_NE(library.error().message().find("not signed"), std::string::npos) << library.error().message();
      EXPECT_EQ(GetModuleHandleW(L"wintun.dll"), nullptr) << "a refused DLL was loaded";
    }
  }

  std::wstring original_cwd_;
  std::wstring temp_;
  std::array<std::wstring, 3> paths_;
  std::vector<std::wstring> placed_;
  std::vector<std::wstring> made_dirs_;
};

TEST_F(WintunLoaderTest, BuildVariantIsTheOneCompiled) {
  EXPECT_EQ(WintunLibrary::SkipsSignatureCheck(), kAllowUnsigned);
}

TEST_F(WintunLoaderTest, SearchPathsAreProgramDataThenExeDirThenWorkingDir) {
  auto program_data = ProgramDataDirectory();
  auto exe_dir = ExecutableDirectory();
  ASSERT_TRUE(program_data.ok() && exe_dir.ok());
  EXPECT_EQ(paths_[kProgramData], *program_data + L"\\ZLayer\\wintun\\wintun.dll");
  EXPECT_EQ(paths_[kNextToExe], *exe_dir + L"\\wintun.dll");
  EXPECT_EQ(paths_[kWorkingDir], temp_ + L"\\wintun.dll");
}

TEST_F(WintunLoaderTest, MissingDllErrorNamesTheThreePathsAndWintunNet) {
  auto library = WintunLibrary::Load();
  ASSERT_FALSE(library.ok());
  EXPECT_EQ(library.error().code(), ENOENT);
  const std::string& m = library.error().message();
  for (const std::wstring& path : paths_) EXPECT_NE(m.find(Utf8FromWide(path)), std::string::npos) << m;
  EXPECT_NE(m.find("https://www.wintun.net"), std::string::npos) << m;
  EXPECT_LT(m.find(Utf8FromWide(paths_[0])), m.find(Utf8FromWide(paths_[1]))) << m;
}

TEST_F(WintunLoaderTest, FindsTheDllInProgramData) {
  Place(kProgramData);
  ExpectTaken(kProgramData);
}

TEST_F(WintunLoaderTest, FindsTheDllNextToTheExecutable) {
  Place(kNextToExe);
  ExpectTaken(kNextToExe);
}

TEST_F(WintunLoaderTest, FindsTheDllInTheWorkingDirectory) {
  Place(kWorkingDir);
  ExpectTaken(kWorkingDir);
}

TEST_F(WintunLoaderTest, ProgramDataComesBeforeTheOtherTwo) {
  Place(kWorkingDir);
  Place(kNextToExe);
  Place(kProgramData);
  ExpectTaken(kProgramData);
}

TEST_F(WintunLoaderTest, NextToTheExecutableComesBeforeTheWorkingDirectory) {
  Place(kWorkingDir);
  Place(kNextToExe);
  ExpectTaken(kNextToExe);
}

TEST_F(WintunLoaderTest, MissingExportIsAClearError) {
  if (!kAllowUnsigned) GTEST_SKIP() << "the signature check refuses the double before its exports are read";
  Place(kWorkingDir, ZL_WINTUN_DOUBLE_MISSING_EXPORT_DIR);
  auto library = WintunLibrary::Load();
  ASSERT_FALSE(library.ok());
  EXPECT_EQ(library.error().code(), ENOENT);
  EXPECT_NE(library.error().message().find("WintunSendPacket"), std::string::npos) << library.error().message();
  EXPECT_NE(library.error().message().find(Utf8FromWide(paths_[kWorkingDir])), std::string::npos);
  EXPECT_EQ(GetModuleHandleW(L"wintun.dll"), nullptr) << "the incomplete DLL stayed loaded";
}

TEST_F(WintunLoaderTest, LoadedDoubleRunsAnAdapterAndUnloadsAfter) {
  if (!kAllowUnsigned) GTEST_SKIP() << "only the ZL_WINTUN_ALLOW_UNSIGNED build loads the double";
  Place(kNextToExe);
  {
    auto library = WintunLibrary::Load();
    ASSERT_TRUE(library.ok()) << library.error().message();
    auto adapter = WintunAdapter::Open((*library)->api(), "zl-loader0");
    ASSERT_TRUE(adapter.ok()) << adapter.error().message();
    auto control = testing::WintunDoubleControl::Of(GetModuleHandleW(L"wintun.dll"));
    ASSERT_TRUE(control.has_value());
    const BYTE packet[3] = {0x60, 1, 2};
    ASSERT_EQ(control->InjectReceive(L"zl-loader0", packet, 3), static_cast<DWORD>(ERROR_SUCCESS));
    std::vector<uint8_t> got;
    auto n = (*adapter)->session().DrainReceived([&](ByteSpan p) { got.assign(p.begin(), p.end()); });
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(got, std::vector<uint8_t>({0x60, 1, 2}));
  }
  EXPECT_EQ(GetModuleHandleW(L"wintun.dll"), nullptr);
}

}  // namespace
}  // namespace zl::net
