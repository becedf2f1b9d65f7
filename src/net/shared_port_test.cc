#include "net/shared_port.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

namespace zl::net {
namespace {

// A scripted OS: each call to open_socket takes the next answer.
struct FakeOs {
  struct Answer {
    int error = 0;      // errno to fail with; 0: success
    uint16_t port = 0;  // the port given for port 0 (else the one asked)
  };
  std::vector<Answer> answers;
  std::vector<std::string> calls;  // "v4:0", "v6:40000", ...
  int discards = 0;

  OpenSocketFn open() {
    return [this](const IpAddress& address, uint16_t port) -> Result<uint16_t> {
      calls.push_back(std::string(address.is_v4() ? "v4:" : "v6:") +
                      std::to_string(port));
      if (calls.size() > answers.size())
        return MakeError(EIO, "no answer scripted");
      const Answer& a = answers[calls.size() - 1];
      if (a.error != 0) return MakeError(a.error, "scripted");
      return port != 0 ? port : a.port;
    };
  }
  std::function<void()> discard() {
    return [this] { ++discards; };
  }
  Result<uint16_t> Run(uint16_t port,
                       const ListenAddresses& listen = ListenAddresses::Any()) {
    return OpenOnSharedPort(port, listen, open(), discard(), "TestBind");
  }
};

TEST(SharedPortTest, PortZeroGivesTheSecondFamilyThePortOfTheFirst) {
  FakeOs os;
  os.answers = {{0, 40000}, {}};
  auto port = os.Run(0);
  ASSERT_TRUE(port.ok()) << port.error().message();
  EXPECT_EQ(*port, 40000);
  EXPECT_EQ(os.calls, (std::vector<std::string>{"v4:0", "v6:40000"}));
  EXPECT_EQ(os.discards, 0);
}

TEST(SharedPortTest, PortTakenInTheSecondFamilyStartsOverWithAnother) {
  FakeOs os;
  os.answers = {{0, 40000},   {EADDRINUSE}, {0, 40001},
                {EADDRINUSE}, {0, 40002},   {}};
  auto port = os.Run(0);
  ASSERT_TRUE(port.ok()) << port.error().message();
  EXPECT_EQ(*port, 40002);
  EXPECT_EQ(os.calls,
            (std::vector<std::string>{"v4:0", "v6:40000", "v4:0", "v6:40001",
                                      "v4:0", "v6:40002"}));
  EXPECT_EQ(os.discards, 2);
}

TEST(SharedPortTest, GivesUpAfterTheLastAttempt) {
  FakeOs os;
  for (int i = 0; i < kSharedPortAttempts; ++i) {
    os.answers.push_back({0, static_cast<uint16_t>(40000 + i)});
    os.answers.push_back({EADDRINUSE});
  }
  auto port = os.Run(0);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().code(), EADDRINUSE);
  EXPECT_NE(port.error().message().find("TestBind: no port free"),
            std::string::npos)
      << port.error().message();
  EXPECT_EQ(os.calls.size(), 2u * kSharedPortAttempts);
  EXPECT_EQ(os.discards, kSharedPortAttempts);
}

TEST(SharedPortTest, AGivenPortThatIsTakenIsNotRetried) {
  FakeOs os;
  os.answers = {{}, {EADDRINUSE}};
  auto port = os.Run(51820);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().code(), EADDRINUSE);
  EXPECT_EQ(os.calls, (std::vector<std::string>{"v4:51820", "v6:51820"}));
  EXPECT_EQ(os.discards, 1);
}

TEST(SharedPortTest, AFamilyWithoutAStackIsLeftOff) {
  FakeOs os;
  os.answers = {{EAFNOSUPPORT}, {0, 40000}};
  auto port = os.Run(0);
  ASSERT_TRUE(port.ok()) << port.error().message();
  EXPECT_EQ(*port, 40000);
  EXPECT_EQ(os.calls, (std::vector<std::string>{"v4:0", "v6:0"}));
}

TEST(SharedPortTest, NeitherFamilyAvailableIsEafnosupport) {
  FakeOs os;
  os.answers = {{EAFNOSUPPORT}, {EAFNOSUPPORT}};
  auto port = os.Run(0);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().code(), EAFNOSUPPORT);
}

TEST(SharedPortTest, OnlyTheListedFamiliesAreOpened) {
  FakeOs os;
  os.answers = {{0, 40000}};
  ListenAddresses v6_only = ListenAddresses::Loopback();
  v6_only.v4.reset();
  auto port = os.Run(0, v6_only);
  ASSERT_TRUE(port.ok());
  EXPECT_EQ(os.calls, (std::vector<std::string>{"v6:0"}));
}

TEST(SharedPortTest, NoListenAddressIsEinval) {
  FakeOs os;
  auto port = os.Run(0, ListenAddresses{});
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().code(), EINVAL);
  EXPECT_TRUE(os.calls.empty());
}

TEST(SharedPortTest, OtherErrorsAreReturnedAsTheyAre) {
  FakeOs os;
  os.answers = {{0, 40000}, {EACCES}};
  auto port = os.Run(0);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().code(), EACCES);
  EXPECT_EQ(os.discards, 1);
}

}  // namespace
}  // namespace zl::net
