#include "uapi/pipe_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "net/named_pipe.h"
#include "uapi/fake_control_api.h"

namespace zl::uapi {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kPrivateKey =
    "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
constexpr std::string_view kPeerKey =
    "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33";

MonoTime In(Duration d) { return BootClock::now() + d; }

ByteSpan Span(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// An interface name of this test's own (the pipe namespace is global).
std::string TestInterface() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "zltest-" +
         std::to_string(uint64_t(BootClock::now().time_since_epoch().count())) +
         "-" + info->name();
}

// Reads until an answer's end (a line "errno=N" and the blank line), the
// end of the stream, or the deadline. `*closed` tells whether the server
// closed the pipe.
std::string ReadAnswer(net::PipeConnection& c, bool* closed = nullptr,
                       Duration within = seconds(5)) {
  std::string got;
  const MonoTime deadline = In(within);
  uint8_t buf[4096];
  if (closed) *closed = false;
  for (;;) {
    const size_t errno_line = got.rfind("errno=");
    if (errno_line != std::string::npos &&
        (errno_line == 0 || got[errno_line - 1] == '\n') && got.size() >= 2 &&
        got.ends_with("\n\n")) {
      return got;
    }
    auto r = c.Read(MutableByteSpan(buf, sizeof(buf)), deadline);
    if (!r.ok()) return got;
    if (*r == 0) {
      if (closed) *closed = true;
      return got;
    }
    got.append(reinterpret_cast<const char*>(buf), *r);
  }
}

// Whether the server closes the pipe within `within` (nothing more read).
bool ClosedWithin(net::PipeConnection& c, Duration within) {
  uint8_t buf[64];
  auto r = c.Read(MutableByteSpan(buf, sizeof(buf)), In(within));
  return r.ok() && *r == 0;
}

class UapiPipeServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<UapiPipeServer> StartServer(
      UapiPipeServerOptions options = {}) {
    auto server = UapiPipeServer::Start(interface_, api_, std::move(options));
    EXPECT_TRUE(server.ok()) << server.error().message();
    return server.ok() ? std::move(server).value() : nullptr;
  }
  std::unique_ptr<net::PipeConnection> Connect() {
    auto c = net::ConnectToNamedPipe(PipePathForInterface(interface_));
    EXPECT_TRUE(c.ok()) << c.error().message();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // Sends `request` and returns the answer.
  std::string Transact(net::PipeConnection& c, std::string_view request) {
    auto w = c.Write(Span(request), In(seconds(5)));
    EXPECT_TRUE(w.ok()) << w.error().message();
    return ReadAnswer(c);
  }
  std::string ExpectedGet() {
    auto state = api_.Snapshot();
    EXPECT_TRUE(state.ok());
    return state.ok() ? SerializeGet(*state) : "";
  }

  const std::string interface_ = TestInterface();
  FakeControlApi api_;
};

TEST(UapiPipePathTest, IsWireGuardsPipeForTheInterface) {
  EXPECT_EQ(PipePathForInterface("wg0"),
            R"(\\.\pipe\ProtectedPrefix\Administrators\WireGuard\wg0)");
}

TEST_F(UapiPipeServerTest, ServesOnTheInterfacesPipeOwnedByLocalSystem) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  EXPECT_EQ(server->path(), PipePathForInterface(interface_));
  auto client = Connect();
  ASSERT_TRUE(client);
  auto sddl = client->SecurityDescriptorSddl();
  ASSERT_TRUE(sddl.ok()) << sddl.error().message();
  // What wg.exe checks: the owner is LocalSystem.
  EXPECT_EQ(sddl->rfind("O:SY", 0), 0u) << *sddl;
  EXPECT_NE(sddl->find("D:P(A;;"), std::string::npos) << *sddl;
  EXPECT_NE(sddl->find(";;;SY)(A;;"), std::string::npos) << *sddl;
  EXPECT_NE(sddl->find(";;;BA)"), std::string::npos) << *sddl;
}

TEST_F(UapiPipeServerTest, GetAnswersTheStateAndErrnoZero) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto request =
      ParseRequest("set=1\nprivate_key=" + std::string(kPrivateKey) +
                   "\nlisten_port=51820\npublic_key=" + std::string(kPeerKey) +
                   "\nallowed_ip=10.0.0.2/32\n\n");
  ASSERT_TRUE(request.ok()) << request.error().message();
  ASSERT_TRUE(api_.Apply(request->config).ok());
  auto client = Connect();
  ASSERT_TRUE(client);
  const std::string answer = Transact(*client, "get=1\n\n");
  EXPECT_EQ(answer, ExpectedGet());
  EXPECT_TRUE(answer.ends_with("errno=0\n\n")) << answer;
  EXPECT_NE(answer.find("listen_port=51820\n"), std::string::npos) << answer;
}

TEST_F(UapiPipeServerTest, SetAppliesTheRequest) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(Transact(*client, "set=1\nlisten_port=4242\npublic_key=" +
                                  std::string(kPeerKey) +
                                  "\nallowed_ip=10.9.0.0/16\n\n"),
            "errno=0\n\n");
  auto state = api_.Snapshot();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->listen_port, 4242);
  ASSERT_EQ(state->peers.size(), 1u);
  EXPECT_EQ(state->peers[0].allowed_ips.size(), 1u);
  EXPECT_EQ(api_.apply_calls(), 1);
}

TEST_F(UapiPipeServerTest, AnswersSeveralTransactionsOnOneConnectionInOrder) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  // Pipelined: both in one write.
  ASSERT_TRUE(
      client->Write(Span("set=1\nlisten_port=7\n\nget=1\n\n"), In(seconds(5)))
          .ok());
  EXPECT_EQ(ReadAnswer(*client), "errno=0\n\n");
  EXPECT_EQ(ReadAnswer(*client), ExpectedGet());
  // And another one later on the same connection.
  EXPECT_EQ(Transact(*client, "set=1\nlisten_port=8\n\n"), "errno=0\n\n");
  EXPECT_EQ(Transact(*client, "get=1\n\n"), ExpectedGet());
}

TEST_F(UapiPipeServerTest, FailedApplyIsAnsweredWithLinuxsErrnoNumber) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  api_.FailApplyWith(Error(EADDRINUSE, "port taken"));
  auto client = Connect();
  ASSERT_TRUE(client);
  // wireguard-go's IpcErrorPortInUse on every OS.
  EXPECT_EQ(Transact(*client, "set=1\nlisten_port=1\n\n"), "errno=-98\n\n");
}

TEST_F(UapiPipeServerTest, BadSetLineIsAnsweredWithItsErrnoAndClosed) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(
      client->Write(Span("set=1\nno equals sign\n\n"), In(seconds(5))).ok());
  bool closed = false;
  EXPECT_EQ(ReadAnswer(*client, &closed), "errno=-71\n\n");
  EXPECT_TRUE(closed || ClosedWithin(*client, seconds(5)));
  EXPECT_EQ(api_.apply_calls(), 0);
}

TEST_F(UapiPipeServerTest, BadFirstLineClosesWithoutAnAnswer) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->Write(Span("hello=1\n\n"), In(seconds(5))).ok());
  bool closed = false;
  EXPECT_EQ(ReadAnswer(*client, &closed), "");
  EXPECT_TRUE(closed);
}

TEST_F(UapiPipeServerTest, TwoClientsInARow) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  for (int i = 0; i < 2; ++i) {
    auto client = Connect();
    ASSERT_TRUE(client) << i;
    EXPECT_EQ(Transact(*client, "get=1\n\n"), ExpectedGet()) << i;
  }
  EXPECT_EQ(api_.snapshot_calls(), 2 + 2);  // ExpectedGet's own included
}

TEST_F(UapiPipeServerTest, TwoClientsAtOnce) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  // Both connected before either speaks: the second finds a free instance
  // without waiting, as wg.exe needs.
  auto first = Connect();
  auto second = Connect();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(Transact(*second, "set=1\nlisten_port=2\n\n"), "errno=0\n\n");
  EXPECT_EQ(Transact(*first, "get=1\n\n"), ExpectedGet());
  EXPECT_EQ(Transact(*second, "get=1\n\n"), ExpectedGet());
}

TEST_F(UapiPipeServerTest, ClientsBeyondMaxClientsAreClosedAtOnce) {
  UapiPipeServerOptions options;
  options.max_clients = 1;
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  auto first = Connect();
  ASSERT_TRUE(first);
  EXPECT_EQ(Transact(*first, "get=1\n\n"), ExpectedGet());  // it has a slot
  auto second = Connect();
  ASSERT_TRUE(second);
  EXPECT_TRUE(ClosedWithin(*second, seconds(5)));
  // The first keeps its slot.
  EXPECT_EQ(Transact(*first, "get=1\n\n"), ExpectedGet());
  // Once it leaves, a new client is served.
  first.reset();
  bool served = false;
  // Its thread ends meanwhile: until then a new client is refused.
  for (int i = 0; i < 50 && !served; ++i) {
    auto next = Connect();
    ASSERT_TRUE(next);
    if (next->Write(Span("get=1\n\n"), In(seconds(5))).ok()) {
      served = ReadAnswer(*next) == ExpectedGet();
    }
    if (!served) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(served);
}

TEST_F(UapiPipeServerTest, ASecondServerOnTheSameInterfaceFailsClearly) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto second = UapiPipeServer::Start(interface_, api_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EADDRINUSE);
  EXPECT_NE(second.error().message().find(PipePathForInterface(interface_)),
            std::string::npos)
      << second.error().message();
  // The first still serves.
  auto client = Connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(Transact(*client, "get=1\n\n"), ExpectedGet());
}

TEST_F(UapiPipeServerTest, StopWithAConnectedIdleClientIsPrompt) {
  auto server = StartServer();  // idle timeout 60 s
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(Transact(*client, "get=1\n\n"), ExpectedGet());
  auto idle = Connect();  // connected, never speaks
  ASSERT_TRUE(idle);
  const MonoTime start = BootClock::now();
  server->Stop();
  EXPECT_LT(BootClock::now() - start, seconds(3));
  server->Stop();  // idempotent
  EXPECT_TRUE(ClosedWithin(*client, seconds(5)));
  // The pipe is gone.
  auto late = net::ConnectToNamedPipe(PipePathForInterface(interface_));
  EXPECT_FALSE(late.ok());
}

TEST_F(UapiPipeServerTest, StalledPartialTransactionIsCutAtTheDeadline) {
  UapiPipeServerOptions options;
  options.transaction_deadline = milliseconds(300);
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  const MonoTime start = BootClock::now();
  ASSERT_TRUE(client->Write(Span("set=1\nlisten_port=1"), In(seconds(5))).ok());
  EXPECT_TRUE(ClosedWithin(*client, seconds(5)));
  const Duration took = BootClock::now() - start;
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, seconds(4));
  EXPECT_EQ(api_.apply_calls(), 0);
}

TEST_F(UapiPipeServerTest, IdleConnectionIsClosedAfterTheIdleTimeout) {
  UapiPipeServerOptions options;
  options.idle_timeout = milliseconds(300);
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  EXPECT_EQ(Transact(*client, "get=1\n\n"), ExpectedGet());
  const MonoTime start = BootClock::now();
  EXPECT_TRUE(ClosedWithin(*client, seconds(5)));
  const Duration took = BootClock::now() - start;
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, seconds(4));
}

TEST_F(UapiPipeServerTest, TransactionOverTheSizeBoundIsRefused) {
  UapiPipeServerOptions options;
  options.max_transaction_bytes = 64;
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  auto client = Connect();
  ASSERT_TRUE(client);
  std::string big = "set=1\n";
  for (int i = 0; i < 10; ++i) big += "listen_port=1\n";
  big += "\n";
  ASSERT_TRUE(client->Write(Span(big), In(seconds(5))).ok());
  bool closed = false;
  EXPECT_EQ(ReadAnswer(*client, &closed), "errno=-90\n\n");  // EMSGSIZE
  EXPECT_EQ(api_.apply_calls(), 0);
}

TEST_F(UapiPipeServerTest, TestPathAndDescriptorCanBeOverridden) {
  UapiPipeServerOptions options;
  options.pipe_path = R"(\\.\pipe\zlayer-uapi-test-)" + interface_;
  options.security_descriptor = "O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;WD)";
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  EXPECT_EQ(server->path(), options.pipe_path);
  auto client = net::ConnectToNamedPipe(options.pipe_path);
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto sddl = (*client)->SecurityDescriptorSddl();
  ASSERT_TRUE(sddl.ok()) << sddl.error().message();
  EXPECT_NE(sddl->find(";;;WD)"), std::string::npos) << *sddl;
  EXPECT_EQ(Transact(**client, "get=1\n\n"), ExpectedGet());
}

}  // namespace
}  // namespace zl::uapi
