#include "net/system_service.h"

#include <gtest/gtest.h>
#include <process.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "base/clock.h"
#include "net/command_line.h"
#include "net/known_paths_win.h"
#include "net/win_text_win.h"

namespace zl::net {
namespace {

// Unique across runs too (wine reuses small process ids), and free: a
// service left by an interrupted run of this test is removed first.
std::string UniqueServiceName(const char* what) {
  std::string name = std::string("zlayer-test-") + what + "-" + std::to_string(_getpid()) + "-" +
                     std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
  (void)UninstallService(name);
  return name;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits (bounded) until `path` holds `want`; returns what it last held.
std::string WaitForFileText(const std::string& path, const std::string& want) {
  const auto deadline = BootClock::now() + std::chrono::seconds(30);
  std::string got;
  while (BootClock::now() < deadline) {
    got = ReadWholeFile(path);
    if (got == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return got;
}

TEST(SystemServiceTest, InstallsAsLocalSystemAutoStartOwnProcess) {
  const std::string name = UniqueServiceName("install");
  ServiceDefinition def{name, name, "a test",
                        QuoteCommandLineArgument(R"(C:\Program Files\ZLayer\zlayer-wg.exe)") +
                            " --service wg0"};
  auto installed = InstallService(def, /*start=*/false);
  ASSERT_TRUE(installed.ok()) << installed.error().message();
  auto info = QueryService(name);
  EXPECT_TRUE(UninstallService(name).ok());
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->command_line, def.command_line);
  EXPECT_EQ(info->account, "LocalSystem");
  EXPECT_TRUE(info->auto_start);
  EXPECT_TRUE(info->own_process);
}

TEST(SystemServiceTest, InstallingTwiceIsEexistAndUninstallingTwiceEnoent) {
  const std::string name = UniqueServiceName("twice");
  ServiceDefinition def{name, name, "", "C:\\x.exe"};
  auto installed = InstallService(def, false);
  ASSERT_TRUE(installed.ok()) << installed.error().message();
  auto again = InstallService(def, false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EEXIST);
  EXPECT_NE(again.error().message().find("already installed"), std::string::npos);
  ASSERT_TRUE(UninstallService(name).ok());
  auto gone = UninstallService(name);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ENOENT);
  EXPECT_NE(gone.error().message().find("not installed"), std::string::npos);
  auto query = QueryService(name);
  ASSERT_FALSE(query.ok());
  EXPECT_EQ(query.error().code(), ENOENT);
}

TEST(SystemServiceTest, BadNameIsRefusedBeforeTheScmIsAsked) {
  auto r = InstallService({"a/b", "x", "", "C:\\x.exe"}, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
}

TEST(SystemServiceTest, RunAsServiceOutsideTheScmSaysSo) {
  auto r = RunAsService("zlayer-test-not-a-service", [](ServiceHost&) { return 0; });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("not started by the service manager"), std::string::npos)
      << r.error().message();
}

// The probe (tests/service_probe) runs under wine's service manager: started
// by InstallService(start), stopped by UninstallService.
TEST(SystemServiceTest, ServiceRunsAndStopsUnderTheScm) {
  auto dir = ExecutableDirectory();
  ASSERT_TRUE(dir.ok());
  const std::string probe = Utf8FromWide(JoinPath(*dir, L"service_probe.exe"));
  const std::string result = Utf8FromWide(JoinPath(*dir, L"service_probe_result.txt"));
  std::remove(result.c_str());
  const std::string name = UniqueServiceName("run");
  ServiceDefinition def{name, name, "",
                        QuoteCommandLineArgument(probe) + " " + name + " " +
                            QuoteCommandLineArgument(result)};
  auto installed = InstallService(def, /*start=*/true);
  const std::string while_running = WaitForFileText(result, "running");
  auto removed = UninstallService(name);
  ASSERT_TRUE(installed.ok()) << installed.error().message();
  EXPECT_EQ(while_running, "running");
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_EQ(WaitForFileText(result, "stopped"), "stopped");
  std::remove(result.c_str());
}

}  // namespace
}  // namespace zl::net
