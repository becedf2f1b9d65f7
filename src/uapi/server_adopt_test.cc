// UapiServer::Adopt: serving on a listener the caller bound (WG_UAPI_FD).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "uapi/fake_control_api.h"
#include "uapi/server.h"

namespace zl::uapi {
namespace {

using namespace std::chrono_literals;

// A unix stream socket bound to `path` (abstract when it starts with '\0',
// unnamed when empty), listening if `listen_too`.
UniqueFd BoundSocket(const std::string& path, bool listen_too = true) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM, 0));
  if (!path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    const auto len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size());
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      return UniqueFd();
    }
  }
  if (listen_too && listen(fd.get(), 8) != 0) return UniqueFd();
  return fd;
}

// One `get` over a new connection to `path` (abstract if it starts with
// '\0'); the answer, or "" after 5 s.
std::string Get(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const auto len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size());
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return "";
  }
  static constexpr char kGet[] = "get=1\n\n";
  if (send(fd.get(), kGet, sizeof(kGet) - 1, MSG_NOSIGNAL) != 7) return "";
  std::string answer;
  for (int i = 0; i < 100 && answer.find("errno=") == std::string::npos; ++i) {
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, size_t(n));
  }
  return answer;
}

class UapiServerAdoptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zl-uapi-adopt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/wg0.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Expects Adopt(fd) to fail with `code` and a message containing `text`.
  void ExpectRefused(UniqueFd fd, int code, const std::string& text) {
    auto server = UapiServer::Adopt(std::move(fd), api_);
    ASSERT_FALSE(server.ok());
    EXPECT_EQ(server.error().code(), code) << server.error().message();
    EXPECT_NE(server.error().message().find(text), std::string::npos)
        << server.error().message();
  }

  std::string dir_;
  std::string path_;
  FakeControlApi api_;
};

TEST_F(UapiServerAdoptTest, ClosedDescriptorIsRefused) {
  UniqueFd fd = BoundSocket("");
  const int closed = fd.get();
  fd.Reset();
  ExpectRefused(UniqueFd(closed), EBADF,
                "descriptor " + std::to_string(closed) + " is not open");
}

TEST_F(UapiServerAdoptTest, PipeIsRefusedAsNotASocket) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd keep(fds[1]);
  ExpectRefused(UniqueFd(fds[0]), ENOTSOCK, "is not a socket");
}

TEST_F(UapiServerAdoptTest, NonListeningSocketIsRefused) {
  UniqueFd fd = BoundSocket(path_, /*listen_too=*/false);
  ASSERT_TRUE(fd.valid());
  ExpectRefused(std::move(fd), EINVAL, "not listening");
}

TEST_F(UapiServerAdoptTest, DatagramAndTcpSocketsAreRefused) {
  ExpectRefused(UniqueFd(socket(AF_UNIX, SOCK_DGRAM, 0)), EINVAL,
                "not a unix stream socket");
  UniqueFd tcp(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(listen(tcp.get(), 1), 0);  // bound to an ephemeral port
  ExpectRefused(std::move(tcp), EINVAL, "not a unix stream socket");
}

TEST_F(UapiServerAdoptTest, ServesOnTheListenerAndMakesItCloexecNonBlocking) {
  UniqueFd fd = BoundSocket(path_);
  ASSERT_TRUE(fd.valid());
  const int raw = fd.get();
  auto server = UapiServer::Adopt(std::move(fd), api_);
  ASSERT_TRUE(server.ok()) << server.error().message();
  EXPECT_NE(fcntl(raw, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(fcntl(raw, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ((*server)->path(), path_);
  EXPECT_TRUE((*server)->SocketFileStillOurs());
  EXPECT_EQ(Get(path_), "errno=0\n\n");
  EXPECT_EQ(Get(path_), "errno=0\n\n");  // the listener stays usable
}

TEST_F(UapiServerAdoptTest, StopRemovesTheBoundFileIfStillOurs) {
  auto server = UapiServer::Adopt(BoundSocket(path_), api_);
  ASSERT_TRUE(server.ok()) << server.error().message();
  (*server)->Stop();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(UapiServerAdoptTest,
       RelativeBoundPathIsResolvedAgainstTheStartDirectory) {
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  UniqueFd fd = BoundSocket("wg0.sock");
  auto server = UapiServer::Adopt(std::move(fd), api_);
  std::filesystem::current_path(old_cwd);
  ASSERT_TRUE(server.ok()) << server.error().message();
  EXPECT_EQ((*server)->path(), path_);
  (*server)->Stop();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(UapiServerAdoptTest, DeletingTheBoundFileIsReported) {
  std::atomic<int> calls{0};
  UapiServerOptions options;
  options.on_socket_file_gone = [&] { ++calls; };
  auto server = UapiServer::Adopt(BoundSocket(path_), api_, std::move(options));
  ASSERT_TRUE(server.ok()) << server.error().message();
  ASSERT_EQ(unlink(path_.c_str()), 0);
  for (int i = 0; i < 250 && calls == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(UapiServerAdoptTest, AbstractSocketIsServedWithoutAFileToWatch) {
  std::atomic<int> calls{0};
  UapiServerOptions options;
  options.on_socket_file_gone = [&] { ++calls; };
  const std::string name =
      std::string(1, '\0') + "zl-uapi-adopt-" + std::to_string(getpid());
  auto server = UapiServer::Adopt(BoundSocket(name), api_, std::move(options));
  ASSERT_TRUE(server.ok()) << server.error().message();
  EXPECT_TRUE((*server)->path().empty());
  EXPECT_FALSE((*server)->SocketFileStillOurs());
  EXPECT_EQ(Get(name), "errno=0\n\n");
  // A server without inotify checks its file every second: give it time to
  // (wrongly) report a missing one.
  std::this_thread::sleep_for(1200ms);
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace zl::uapi
