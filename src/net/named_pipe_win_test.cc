#include <gtest/gtest.h>

#include "net/named_pipe.h"

// winsock2.h must come before windows.h.
// clang-format off
#include <winsock2.h>
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
// clang-format on

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "net/win_text_win.h"

namespace zl::net {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// wireguard-go's UAPI descriptor, and its DACL as the system stores it back
// (GA mapped to the file rights, FA), owner LocalSystem.
constexpr std::string_view kUapiDescriptor =
    "O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)";

// A pipe name of this test's own.
std::string TestPipe() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(R"(\\.\pipe\zlayer-test-)") +
         std::to_string(GetCurrentProcessId()) + "-" + info->name();
}

MonoTime In(Duration d) { return BootClock::now() + d; }

ByteSpan Span(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Reads until `n` bytes arrived (or the end, or an error).
std::string ReadSome(PipeConnection& c, size_t n,
                     Duration within = seconds(5)) {
  std::string got;
  const MonoTime deadline = In(within);
  uint8_t buf[256];
  while (got.size() < n) {
    auto r = c.Read(MutableByteSpan(buf, sizeof(buf)), deadline);
    if (!r.ok() || *r == 0) break;
    got.append(reinterpret_cast<const char*>(buf), *r);
  }
  return got;
}

struct Pair {
  std::unique_ptr<NamedPipeListener> listener;
  std::unique_ptr<PipeConnection> client;
  std::unique_ptr<PipeConnection> server;
};

// A listener with one connected client, accepted.
Pair Connected(std::string_view sddl = kUapiDescriptor) {
  Pair p;
  auto listener = NamedPipeListener::Create(TestPipe(), sddl);
  EXPECT_TRUE(listener.ok()) << listener.error().message();
  if (!listener.ok()) return p;
  p.listener = std::move(listener).value();
  auto client = ConnectToNamedPipe(p.listener->path());
  EXPECT_TRUE(client.ok()) << client.error().message();
  if (!client.ok()) return p;
  p.client = std::move(client).value();
  auto server = p.listener->Accept();
  EXPECT_TRUE(server.ok()) << server.error().message();
  if (server.ok()) p.server = std::move(server).value();
  return p;
}

TEST(NamedPipeTest, PipeCarriesTheGivenOwnerAndDacl) {
  Pair p = Connected();
  ASSERT_TRUE(p.client);
  // What wg.exe checks: the pipe's owner is LocalSystem (S-1-5-18).
  PSECURITY_DESCRIPTOR sd = nullptr;
  PSID owner = nullptr;
  // The client's handle is inside PipeConnection: open a second client.
  HANDLE raw = CreateFileW(WideFromUtf8(p.listener->path()).c_str(),
                           GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                           OPEN_EXISTING, 0, nullptr);
  ASSERT_NE(raw, INVALID_HANDLE_VALUE) << GetLastError();
  ASSERT_EQ(GetSecurityInfo(raw, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION,
                            &owner, nullptr, nullptr, nullptr, &sd),
            ERROR_SUCCESS);
  PSID system = nullptr;
  ASSERT_TRUE(ConvertStringSidToSidW(L"S-1-5-18", &system));
  EXPECT_TRUE(EqualSid(owner, system));
  LocalFree(system);
  LocalFree(sd);
  CloseHandle(raw);

  auto sddl = p.client->SecurityDescriptorSddl();
  ASSERT_TRUE(sddl.ok()) << sddl.error().message();
  EXPECT_EQ(sddl->rfind("O:SY", 0), 0u) << *sddl;
  // Protected, and open to LocalSystem and Administrators only.
  const size_t dacl = sddl->find("D:P");
  ASSERT_NE(dacl, std::string::npos) << *sddl;
  const std::string aces = sddl->substr(dacl + 3);
  EXPECT_TRUE(aces.rfind("(A;;FA;;;SY)(A;;FA;;;BA)", 0) == 0 ||
              aces.rfind("(A;;GA;;;SY)(A;;GA;;;BA)", 0) == 0)
      << *sddl;
  EXPECT_EQ(aces.find("(A;;", 24), std::string::npos) << *sddl;
}

TEST(NamedPipeTest, BytesFlowBothWays) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  ASSERT_TRUE(p.client->Write(Span("get=1\n\n"), In(seconds(5))).ok());
  EXPECT_EQ(ReadSome(*p.server, 7), "get=1\n\n");
  ASSERT_TRUE(p.server->Write(Span("errno=0\n\n"), In(seconds(5))).ok());
  EXPECT_EQ(ReadSome(*p.client, 9), "errno=0\n\n");
}

TEST(NamedPipeTest, LargeWriteArrivesWhole) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  // Larger than the pipe's buffer: the write waits for the reader.
  std::string big(300 * 1024, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
  std::thread writer(
      [&] { EXPECT_TRUE(p.server->Write(Span(big), In(seconds(10))).ok()); });
  std::string got = ReadSome(*p.client, big.size(), seconds(10));
  writer.join();
  EXPECT_EQ(got, big);
}

TEST(NamedPipeTest, ReadGivesEndOfStreamWhenTheClientCloses) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  p.client.reset();
  uint8_t buf[16];
  auto r = p.server->Read(MutableByteSpan(buf, sizeof(buf)), In(seconds(5)));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 0u);
}

TEST(NamedPipeTest, WriteToAClosedClientIsEpipe) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  p.client.reset();
  auto r = p.server->Write(Span("errno=0\n\n"), In(seconds(5)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EPIPE) << r.error().message();
}

TEST(NamedPipeTest, WhatTheServerWroteStaysReadableAfterItCloses) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  ASSERT_TRUE(p.server->Write(Span("errno=-22\n\n"), In(seconds(5))).ok());
  p.server.reset();
  EXPECT_EQ(ReadSome(*p.client, 100), "errno=-22\n\n");
}

TEST(NamedPipeTest, ReadTimesOutAtItsDeadline) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  uint8_t buf[16];
  const MonoTime start = BootClock::now();
  auto r = p.server->Read(MutableByteSpan(buf, sizeof(buf)),
                          start + milliseconds(200));
  const Duration took = BootClock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ETIMEDOUT) << r.error().message();
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, seconds(5));
  // The connection still works after a timed-out read.
  ASSERT_TRUE(p.client->Write(Span("x"), In(seconds(5))).ok());
  EXPECT_EQ(ReadSome(*p.server, 1), "x");
}

TEST(NamedPipeTest, StoppingTheListenerEndsABlockedRead) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  std::atomic<int> code{0};
  const MonoTime start = BootClock::now();
  std::thread reader([&] {
    uint8_t buf[16];
    auto r = p.server->Read(MutableByteSpan(buf, sizeof(buf)), In(seconds(60)));
    code = r.ok() ? 0 : r.error().code();
  });
  std::this_thread::sleep_for(milliseconds(50));  // let it block
  p.listener->Stop();
  reader.join();
  EXPECT_EQ(code, ECANCELED);
  EXPECT_LT(BootClock::now() - start, seconds(5));
}

TEST(NamedPipeTest, StoppingTheConnectionEndsABlockedRead) {
  Pair p = Connected();
  ASSERT_TRUE(p.server);
  std::atomic<int> code{0};
  const MonoTime start = BootClock::now();
  std::thread reader([&] {
    uint8_t buf[16];
    auto r = p.server->Read(MutableByteSpan(buf, sizeof(buf)), In(seconds(60)));
    code = r.ok() ? 0 : r.error().code();
  });
  std::this_thread::sleep_for(milliseconds(50));
  p.server->Stop();
  reader.join();
  EXPECT_EQ(code, ECANCELED);
  EXPECT_LT(BootClock::now() - start, seconds(5));
}

TEST(NamedPipeTest, StopEndsABlockedAccept) {
  auto listener = NamedPipeListener::Create(TestPipe(), kUapiDescriptor);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  std::atomic<int> code{0};
  const MonoTime start = BootClock::now();
  std::thread acceptor([&] {
    auto c = (*listener)->Accept();
    code = c.ok() ? 0 : c.error().code();
  });
  std::this_thread::sleep_for(milliseconds(50));
  (*listener)->Stop();
  acceptor.join();
  EXPECT_EQ(code, ECANCELED);
  EXPECT_LT(BootClock::now() - start, seconds(5));
}

// wg.exe never waits for a busy pipe: whatever is connected, the next
// client finds a free instance, with no WaitNamedPipe.
TEST(NamedPipeTest, AFreeInstanceListensWhileClientsAreConnected) {
  auto listener = NamedPipeListener::Create(TestPipe(), kUapiDescriptor);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  std::vector<std::unique_ptr<PipeConnection>> clients, servers;
  // Two clients before any Accept, then more, each accepted in turn.
  for (int i = 0; i < 2; ++i) {
    auto c = ConnectToNamedPipe((*listener)->path());
    ASSERT_TRUE(c.ok()) << i << ": " << c.error().message();
    clients.push_back(std::move(c).value());
  }
  for (int i = 0; i < 6; ++i) {
    auto s = (*listener)->Accept();
    ASSERT_TRUE(s.ok()) << i << ": " << s.error().message();
    servers.push_back(std::move(s).value());
    if (clients.size() < 6) {
      auto c = ConnectToNamedPipe((*listener)->path());
      ASSERT_TRUE(c.ok()) << i << ": " << c.error().message();
      clients.push_back(std::move(c).value());
    }
  }
  ASSERT_EQ(servers.size(), 6u);
  // Each client reaches its own server instance.
  for (size_t i = 0; i < clients.size(); ++i) {
    const std::string msg = "client " + std::to_string(i);
    ASSERT_TRUE(clients[i]->Write(Span(msg), In(seconds(5))).ok());
  }
  std::vector<std::string> got;
  for (auto& s : servers) got.push_back(ReadSome(*s, 8));
  for (size_t i = 0; i < clients.size(); ++i) {
    EXPECT_NE(std::find(got.begin(), got.end(), "client " + std::to_string(i)),
              got.end())
        << i;
  }
}

TEST(NamedPipeTest, AClientThatLeftBeforeAcceptIsSkipped) {
  auto listener = NamedPipeListener::Create(TestPipe(), kUapiDescriptor);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  {
    auto gone = ConnectToNamedPipe((*listener)->path());
    ASSERT_TRUE(gone.ok()) << gone.error().message();
  }
  auto client = ConnectToNamedPipe((*listener)->path());
  ASSERT_TRUE(client.ok()) << client.error().message();
  ASSERT_TRUE((*client)->Write(Span("hello"), In(seconds(5))).ok());
  // The first accepted instance may be the one whose client left (it reads
  // the end at once); the live client's is among the first two.
  std::string got;
  for (int i = 0; i < 2 && got.empty(); ++i) {
    auto s = (*listener)->Accept();
    ASSERT_TRUE(s.ok()) << s.error().message();
    got = ReadSome(**s, 5);
  }
  EXPECT_EQ(got, "hello");
}

TEST(NamedPipeTest, ASecondListenerOnTheSameNameIsEaddrinuse) {
  auto first = NamedPipeListener::Create(TestPipe(), kUapiDescriptor);
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = NamedPipeListener::Create(TestPipe(), kUapiDescriptor);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EADDRINUSE);
  EXPECT_NE(second.error().message().find("another server"), std::string::npos)
      << second.error().message();
  // Once the first is gone, the name is free again.
  first->reset();
  auto third = NamedPipeListener::Create(TestPipe(), kUapiDescriptor);
  EXPECT_TRUE(third.ok()) << third.error().message();
}

TEST(NamedPipeTest, ABadDescriptorIsEinval) {
  auto listener =
      NamedPipeListener::Create(TestPipe(), "D:P(A;;GA;;;NOSUCHSID)");
  ASSERT_FALSE(listener.ok());
  EXPECT_EQ(listener.error().code(), EINVAL);
}

TEST(NamedPipeTest, ConnectingToNoPipeIsEnoent) {
  auto c = ConnectToNamedPipe(TestPipe());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ENOENT) << c.error().message();
}

}  // namespace
}  // namespace zl::net
