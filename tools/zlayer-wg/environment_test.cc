#include "environment.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace zl::wgtool {
namespace {

// A fake environment.
GetEnv Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(EnvironmentTest, NothingSetMeansErrorLevelBackgroundAndOwnDescriptors) {
  auto env = ReadEnvironment(Env({}));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->log_level.level, LogLevel::kError);
  EXPECT_TRUE(env->log_level.warning.empty());
  EXPECT_FALSE(env->log_level_given);
  EXPECT_FALSE(env->foreground);
  EXPECT_FALSE(env->tun_fd.has_value());
  EXPECT_FALSE(env->uapi_fd.has_value());
}

TEST(EnvironmentTest, LogLevelNeverFailsTheStart) {
  for (const char* value : {"info", "debug", "", "bogus", "verbose"}) {
    SCOPED_TRACE(value);
    auto env = ReadEnvironment(Env({{"LOG_LEVEL", value}}));
    ASSERT_TRUE(env.ok());
    EXPECT_EQ(env->log_level_given, *value != '\0');
  }
  EXPECT_EQ(ReadEnvironment(Env({{"LOG_LEVEL", "debug"}}))->log_level.level,
            LogLevel::kVerbose);
  EXPECT_FALSE(ReadEnvironment(Env({{"LOG_LEVEL", "bogus"}}))
                   ->log_level.warning.empty());
}

TEST(EnvironmentTest, OffloadsOnUnlessZeroAndOtherValuesRefused) {
  EXPECT_TRUE(ReadEnvironment(Env({}))->offloads);
  EXPECT_TRUE(ReadEnvironment(Env({{"ZL_OFFLOADS", "1"}}))->offloads);
  EXPECT_FALSE(ReadEnvironment(Env({{"ZL_OFFLOADS", "0"}}))->offloads);
  for (const char* bad : {"", "yes", "2", "0 "}) {
    auto env = ReadEnvironment(Env({{"ZL_OFFLOADS", bad}}));
    ASSERT_FALSE(env.ok()) << bad;
    EXPECT_EQ(env.error().code(), EINVAL);
    EXPECT_NE(env.error().message().find("ZL_OFFLOADS"), std::string::npos);
  }
}

TEST(EnvironmentTest, BusyPollIsMicrosecondsWithADefaultAndBadValuesRefused) {
  EXPECT_EQ(ReadEnvironment(Env({}))->busy_poll,
            std::chrono::microseconds(kDefaultBusyPollUs));
  EXPECT_EQ(ReadEnvironment(Env({{"ZL_BUSY_POLL_US", "0"}}))->busy_poll,
            std::chrono::microseconds(0));
  EXPECT_EQ(ReadEnvironment(Env({{"ZL_BUSY_POLL_US", "120"}}))->busy_poll,
            std::chrono::microseconds(120));
  EXPECT_EQ(ReadEnvironment(
                Env({{"ZL_BUSY_POLL_US", std::to_string(kMaxBusyPollUs)}}))
                ->busy_poll,
            std::chrono::microseconds(kMaxBusyPollUs));
  for (const std::string& bad : std::vector<std::string>{
           "", "-1", "+5", "50us", " 50", "1e3", "99999999999999999999",
           std::to_string(kMaxBusyPollUs + 1)}) {
    auto env = ReadEnvironment(Env({{"ZL_BUSY_POLL_US", bad}}));
    ASSERT_FALSE(env.ok()) << bad;
    EXPECT_EQ(env.error().code(), EINVAL);
    EXPECT_NE(env.error().message().find("ZL_BUSY_POLL_US"), std::string::npos);
  }
}

TEST(EnvironmentTest, ThreadsAreACountWithAnAutomaticDefaultAndBadValuesRefused) {
  EXPECT_EQ(ReadEnvironment(Env({}))->threads, 0);
  EXPECT_EQ(ReadEnvironment(Env({{"ZL_THREADS", "1"}}))->threads, 1);
  EXPECT_EQ(ReadEnvironment(Env({{"ZL_THREADS", std::to_string(kMaxThreads)}}))
                ->threads,
            kMaxThreads);
  for (const std::string& bad : std::vector<std::string>{
           "", "-1", "two", " 2", std::to_string(kMaxThreads + 1)}) {
    auto env = ReadEnvironment(Env({{"ZL_THREADS", bad}}));
    ASSERT_FALSE(env.ok()) << bad;
    EXPECT_EQ(env.error().code(), EINVAL);
    EXPECT_NE(env.error().message().find("ZL_THREADS"), std::string::npos);
  }
}

TEST(EnvironmentTest, TunQueuesAreACountFromOneAndBadValuesRefused) {
  EXPECT_EQ(ReadEnvironment(Env({}))->tun_queues, 1);
  EXPECT_EQ(ReadEnvironment(Env({{"ZL_TUN_QUEUES", "2"}}))->tun_queues, 2);
  EXPECT_EQ(ReadEnvironment(Env({{"ZL_TUN_QUEUES", std::to_string(kMaxTunQueues)}}))
                ->tun_queues,
            kMaxTunQueues);
  for (const std::string& bad : std::vector<std::string>{
           "", "0", "-1", "two", " 2", std::to_string(kMaxTunQueues + 1)}) {
    auto env = ReadEnvironment(Env({{"ZL_TUN_QUEUES", bad}}));
    ASSERT_FALSE(env.ok()) << bad;
    EXPECT_EQ(env.error().code(), EINVAL);
    EXPECT_NE(env.error().message().find("ZL_TUN_QUEUES"), std::string::npos);
  }
}

TEST(EnvironmentTest, SeveralTunQueuesNeedATunWeCreate) {
  EXPECT_TRUE(ReadEnvironment(Env({{"WG_TUN_FD", "5"}, {"ZL_TUN_QUEUES", "1"}})).ok());
  auto env = ReadEnvironment(Env({{"WG_TUN_FD", "5"}, {"ZL_TUN_QUEUES", "2"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code(), EINVAL);
  EXPECT_NE(env.error().message().find("WG_TUN_FD"), std::string::npos);
  EXPECT_NE(env.error().message().find("ZL_TUN_QUEUES"), std::string::npos);
}

TEST(EnvironmentTest, ForegroundOnlyForOne) {
  EXPECT_TRUE(
      ReadEnvironment(Env({{"WG_PROCESS_FOREGROUND", "1"}}))->foreground);
  EXPECT_FALSE(
      ReadEnvironment(Env({{"WG_PROCESS_FOREGROUND", "0"}}))->foreground);
  EXPECT_FALSE(
      ReadEnvironment(Env({{"WG_PROCESS_FOREGROUND", ""}}))->foreground);
}

TEST(EnvironmentTest, DescriptorNumbersAreRead) {
  auto env = ReadEnvironment(Env({{"WG_TUN_FD", "3"}, {"WG_UAPI_FD", "17"}}));
  ASSERT_TRUE(env.ok()) << env.error().message();
  EXPECT_EQ(env->tun_fd, 3);
  EXPECT_EQ(env->uapi_fd, 17);
}

TEST(EnvironmentTest, BadDescriptorNumbersAreRefusedNamingTheVariable) {
  for (const char* value :
       {"", "x", "-3", "+3", " 3", "3 ", "3x", "0", "2", "99999999999"}) {
    for (const char* name : {"WG_TUN_FD", "WG_UAPI_FD"}) {
      SCOPED_TRACE(std::string(name) + "='" + value + "'");
      auto env = ReadEnvironment(Env({{name, value}}));
      ASSERT_FALSE(env.ok());
      EXPECT_EQ(env.error().code(), EINVAL);
      EXPECT_EQ(env.error().message().rfind(name, 0), 0u)
          << env.error().message();
    }
  }
}

TEST(EnvironmentTest, SameDescriptorForTunAndUapiIsRefused) {
  auto env = ReadEnvironment(Env({{"WG_TUN_FD", "5"}, {"WG_UAPI_FD", "5"}}));
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().code(), EINVAL);
}

}  // namespace
}  // namespace zl::wgtool
