#include "overlay/http_server.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "overlay/http_client.h"
#include "overlay/http_test_util.h"

namespace zl::overlay {
namespace {

using namespace std::chrono_literals;
using testing::ConnectTcp;
using testing::ConnectUnix;
using testing::Eventually;
using testing::ReadUntil;
using testing::ReadUntilClosed;
using testing::RecordingHandler;
using testing::SendAll;
using testing::TempDir;
using testing::ThreadCount;

constexpr auto kTimeout = 3000ms;

// A server on a unix socket in a fresh directory, recording its requests.
class UnixServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    auto fd = ListenUnix(path_);
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    auto server =
        HttpServer::Start(std::move(fd).value(), recorder_.AsHandler(), options);
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(server).value();
  }
  HttpClient Client() { return HttpClient(HttpTarget{path_, {}}); }

  TempDir dir_;
  std::string path_ = dir_.File("control.sock");
  RecordingHandler recorder_;
  std::unique_ptr<HttpServer> server_;
};

// The same on TCP 127.0.0.1, any port.
class TcpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    auto fd = ListenTcp(Endpoint(IpAddress::V4(0x7f000001), 0));
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    auto port = BoundPort(fd->get());
    ASSERT_TRUE(port.ok()) << port.error().message();
    port_ = *port;
    auto server =
        HttpServer::Start(std::move(fd).value(), recorder_.AsHandler(), options);
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(server).value();
  }
  HttpTarget Target() const {
    return HttpTarget{"", Endpoint(IpAddress::V4(0x7f000001), port_)};
  }

  uint16_t port_ = 0;
  RecordingHandler recorder_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(UnixServerTest, ServesGetAndPostWithoutRemoteAddress) {
  StartServer();
  HttpClient client = Client();
  auto get = client.Get("/v1/status", kTimeout);
  ASSERT_TRUE(get.ok()) << get.error().message();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET /v1/status ");
  EXPECT_EQ(get->content_type, "text/plain");
  auto post = client.Request("POST", "/v1/join", R"({"name":"a"})", kTimeout);
  ASSERT_TRUE(post.ok()) << post.error().message();
  EXPECT_EQ(post->body, R"(POST /v1/join {"name":"a"})");

  auto calls = recorder_.TakeCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].request.method, "POST");
  EXPECT_EQ(calls[1].request.body, R"({"name":"a"})");
  EXPECT_FALSE(calls[0].request.remote.has_value());
  EXPECT_FALSE(calls[1].request.remote.has_value());
}

TEST_F(TcpServerTest, ServesGetAndPostWithRemoteAddress) {
  StartServer();
  HttpClient client(Target());
  auto get = client.Get("/v1/members", kTimeout);
  ASSERT_TRUE(get.ok()) << get.error().message();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET /v1/members ");
  auto post = client.Request("POST", "/v1/x", "hello", kTimeout);
  ASSERT_TRUE(post.ok()) << post.error().message();
  EXPECT_EQ(post->body, "POST /v1/x hello");

  auto calls = recorder_.TakeCalls();
  ASSERT_EQ(calls.size(), 2u);
  ASSERT_TRUE(calls[0].request.remote.has_value());
  EXPECT_EQ(calls[0].request.remote->address().ToString(), "127.0.0.1");
  EXPECT_NE(calls[0].request.remote->port(), 0);
  EXPECT_NE(calls[0].request.remote->port(), port_);
}

TEST_F(UnixServerTest, DecodesPathAndQueryArguments) {
  StartServer();
  HttpClient client = Client();
  auto got = client.Get(
      "/v1/dns/a%20b+c?since=12&name=hello%20world&plus=x+y&flag&amp=%26%3D",
      kTimeout);
  ASSERT_TRUE(got.ok()) << got.error().message();
  auto calls = recorder_.TakeCalls();
  ASSERT_EQ(calls.size(), 1u);
  const HttpRequest& r = calls[0].request;
  EXPECT_EQ(r.path, "/v1/dns/a b+c");
  const std::map<std::string, std::string> expected = {
      {"since", "12"}, {"name", "hello world"}, {"plus", "x y"},
      {"flag", ""},    {"amp", "&="}};
  EXPECT_EQ(r.query, expected);
}

TEST_F(UnixServerTest, AnswersOversizedBodyWith413WithoutCallingHandler) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  StartServer(options);
  HttpClient client = Client();
  auto ok = client.Request("POST", "/v1/x", std::string(1000, 'a'), kTimeout);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->status, 200);
  auto big = client.Request("POST", "/v1/x", std::string(1001, 'a'), kTimeout);
  ASSERT_TRUE(big.ok()) << big.error().message();
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(recorder_.count(), 1u);
}

TEST_F(UnixServerTest, AnswersOversizedChunkedBodyWith413) {
  HttpServerOptions options;
  options.max_body_bytes = 100;
  StartServer(options);
  UniqueFd fd = ConnectUnix(path_);
  ASSERT_TRUE(fd);
  std::string request =
      "POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "40\r\n" + std::string(64, 'b') + "\r\n";
  request += "0\r\n\r\n";
  ASSERT_TRUE(SendAll(fd.get(), request));
  const std::string answer = ReadUntil(fd.get(), "request body too large");
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_EQ(recorder_.count(), 0u);
}

TEST_F(UnixServerTest, AnswersLongPollLaterFromAnotherThread) {
  StartServer();
  recorder_.Hold(true);
  std::thread answerer([&] {
    ASSERT_TRUE(recorder_.WaitForCalls(1));
    auto calls = recorder_.TakeCalls();
    EXPECT_FALSE(calls[0].responder->closed());
    calls[0].responder->Respond(HttpResponse{200, "application/json", "{}"});
    calls[0].responder->Respond(HttpResponse{500, "text/plain", "ignored"});
  });
  HttpClient client = Client();
  auto got = client.Get("/v1/watch?since=3", kTimeout);
  answerer.join();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "{}");
  EXPECT_EQ(got->content_type, "application/json");
}

// The client goes away while its request is suspended: the responder turns
// closed, a late answer is dropped, and the connection is reaped.
void ExpectClosedWhenClientLeaves(RecordingHandler& recorder,
                                  HttpServer& server, UniqueFd fd) {
  recorder.Hold(true);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(SendAll(fd.get(), "GET /v1/watch HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(recorder.WaitForCalls(1));
  auto calls = recorder.TakeCalls();
  std::shared_ptr<HttpResponder> responder = calls[0].responder;
  EXPECT_FALSE(responder->closed());
  fd.Reset();
  EXPECT_TRUE(Eventually([&] { return responder->closed(); }));
  EXPECT_TRUE(Eventually([&] { return server.open_connections() == 0; }));
  responder->Respond(HttpResponse{200, "text/plain", "too late"});
}

TEST_F(UnixServerTest, MarksResponderClosedWhenClientLeavesWhileSuspended) {
  StartServer();
  ExpectClosedWhenClientLeaves(recorder_, *server_, ConnectUnix(path_));
}

TEST_F(TcpServerTest, MarksResponderClosedWhenClientLeavesWhileSuspended) {
  StartServer();
  ExpectClosedWhenClientLeaves(recorder_, *server_, ConnectTcp(port_));
}

TEST_F(UnixServerTest, AnswersDroppedResponderWith500) {
  StartServer();
  recorder_.Hold(true);
  HttpClient client = Client();
  // Dropped on another thread while the request is suspended.
  std::thread dropper([&] {
    ASSERT_TRUE(recorder_.WaitForCalls(1));
    recorder_.TakeCalls();
  });
  auto got = client.Get("/v1/x", kTimeout);
  dropper.join();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->status, 500);
}

TEST(HttpServerTest, AnswersResponderDroppedInsideHandlerWith500) {
  TempDir dir;
  auto fd = ListenUnix(dir.File("s"));
  ASSERT_TRUE(fd.ok());
  auto server = HttpServer::Start(
      std::move(fd).value(),
      [](const HttpRequest&, std::shared_ptr<HttpResponder>) {});
  ASSERT_TRUE(server.ok());
  HttpClient client(HttpTarget{dir.File("s"), {}});
  auto got = client.Get("/", kTimeout);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->status, 500);
}

TEST(HttpServerTest, AnswersThrowingHandlerWith500) {
  TempDir dir;
  auto fd = ListenUnix(dir.File("s"));
  ASSERT_TRUE(fd.ok());
  auto server = HttpServer::Start(
      std::move(fd).value(),
      [](const HttpRequest&, std::shared_ptr<HttpResponder>) {
        throw std::runtime_error("boom");
      });
  ASSERT_TRUE(server.ok());
  HttpClient client(HttpTarget{dir.File("s"), {}});
  auto got = client.Get("/", kTimeout);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->status, 500);
}

TEST_F(UnixServerTest, StopAnswersSuspendedRequestsWith503) {
  StartServer();
  recorder_.Hold(true);
  constexpr int kClients = 3;
  std::vector<std::thread> clients;
  std::vector<int> statuses(kClients, 0);
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      HttpClient client = Client();
      auto got = client.Get("/v1/watch", kTimeout);
      statuses[i] = got.ok() ? got->status : -got.error().code();
    });
  }
  ASSERT_TRUE(recorder_.WaitForCalls(kClients));
  server_->Stop();
  for (auto& t : clients) t.join();
  for (int status : statuses) EXPECT_EQ(status, 503);
  for (auto& call : recorder_.TakeCalls()) {
    EXPECT_TRUE(call.responder->closed());
    call.responder->Respond(HttpResponse{});  // after Stop: a no-op
  }
  server_->Stop();  // idempotent
  // The listening socket is closed: nobody answers any more.
  EXPECT_FALSE(ConnectUnix(path_));
}

TEST_F(UnixServerTest, RespondAfterServerIsDestroyedIsHarmless) {
  StartServer();
  recorder_.Hold(true);
  UniqueFd fd = ConnectUnix(path_);
  ASSERT_TRUE(SendAll(fd.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  server_.reset();
  auto calls = recorder_.TakeCalls();
  EXPECT_TRUE(calls[0].responder->closed());
  calls[0].responder->Respond(HttpResponse{});
}

TEST_F(UnixServerTest, ClosesIdleConnectionAfterTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 1s;
  StartServer(options);
  UniqueFd fd = ConnectUnix(path_);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(Eventually([&] { return server_->open_connections() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadUntilClosed(fd.get()), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(Eventually([&] { return server_->open_connections() == 0; }));
}

TEST_F(UnixServerTest, KeepsSuspendedLongPollPastIdleTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 1s;
  StartServer(options);
  recorder_.Hold(true);
  std::thread answerer([&] {
    ASSERT_TRUE(recorder_.WaitForCalls(1));
    std::this_thread::sleep_for(1500ms);  // past the idle timeout
    recorder_.TakeCalls()[0].responder->Respond(HttpResponse{200, "", "late"});
  });
  HttpClient client = Client();
  auto got = client.Get("/v1/watch", kTimeout);
  answerer.join();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->body, "late");
}

TEST_F(TcpServerTest, ServesConnectionsOverTheLimitOnlyWhenOneCloses) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  UniqueFd a = ConnectTcp(port_);
  UniqueFd b = ConnectTcp(port_);
  ASSERT_TRUE(Eventually([&] { return server_->open_connections() == 2; }));
  UniqueFd c = ConnectTcp(port_);  // the kernel queues it
  ASSERT_TRUE(c);
  ASSERT_TRUE(SendAll(c.get(), "GET /third HTTP/1.1\r\nHost: x\r\n\r\n"));
  pollfd pfd{c.get(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 200), 0);  // not served while two are open
  EXPECT_EQ(server_->open_connections(), 2u);
  a.Reset();
  EXPECT_NE(ReadUntil(c.get(), "GET /third ").find("GET /third "),
            std::string::npos);
  EXPECT_EQ(server_->open_connections(), 2u);
}

TEST_F(UnixServerTest, AnswersCurlCommandLine) {
  if (access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "no curl(1)";
  StartServer();
  const std::string command = "/usr/bin/curl -sS --max-time 3 --unix-socket " +
                              path_ + " 'http://x/v1/status?a=b' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << out;
  EXPECT_EQ(out, "GET /v1/status ");
}

TEST(HttpServerTest, StartRejectsSocketThatDoesNotListen) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto server = HttpServer::Start(std::move(fd), RecordingHandler().AsHandler());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().code(), EINVAL);
  auto none = HttpServer::Start(UniqueFd(), RecordingHandler().AsHandler());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), EINVAL);
}

TEST(ListenUnixTest, CreatesSocketWithMode0600) {
  TempDir dir;
  const mode_t old_mask = umask(0);  // a permissive umask must not matter
  auto fd = ListenUnix(dir.File("control.sock"));
  umask(old_mask);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  struct stat st {};
  ASSERT_EQ(lstat(dir.File("control.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(ListenUnixTest, ReplacesStaleSocket) {
  TempDir dir;
  const std::string path = dir.File("control.sock");
  {
    auto dead = ListenUnix(path);  // closed without unlinking: stale
    ASSERT_TRUE(dead.ok());
  }
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  auto fd = ListenUnix(path);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  EXPECT_TRUE(ConnectUnix(path));
}

TEST(ListenUnixTest, RefusesSocketOfLiveServer) {
  TempDir dir;
  const std::string path = dir.File("control.sock");
  auto live = ListenUnix(path);
  ASSERT_TRUE(live.ok());
  auto second = ListenUnix(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EADDRINUSE);
  EXPECT_TRUE(ConnectUnix(path));  // the live one still answers
}

TEST(ListenUnixTest, RefusesPathThatIsNotASocket) {
  TempDir dir;
  const std::string path = dir.File("file");
  std::ofstream(path) << "data";
  auto fd = ListenUnix(path);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().code(), EEXIST);
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "data");
}

TEST(ListenUnixTest, RejectsPathTooLongForSockaddr) {
  auto fd = ListenUnix("/tmp/" + std::string(200, 'x'));
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().code(), ENAMETOOLONG);
}

TEST(ListenTcpTest, BoundPortReportsTheChosenPort) {
  auto fd = ListenTcp(Endpoint(IpAddress::V4(0x7f000001), 0));
  ASSERT_TRUE(fd.ok());
  auto port = BoundPort(fd->get());
  ASSERT_TRUE(port.ok());
  EXPECT_NE(*port, 0);
  EXPECT_TRUE(ConnectTcp(*port));
  TempDir dir;
  auto unix_fd = ListenUnix(dir.File("s"));
  ASSERT_TRUE(unix_fd.ok());
  EXPECT_EQ(BoundPort(unix_fd->get()).error().code(), EINVAL);
}

TEST(RaiseFileLimitTest, SoftLimitReachesHardLimit) {
  auto soft = RaiseFileLimit();
  ASSERT_TRUE(soft.ok()) << soft.error().message();
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(*soft, limit.rlim_cur);
  EXPECT_EQ(limit.rlim_cur, limit.rlim_max);
}

// 2,000 clients wait in a long-poll at once on the one server thread, and
// one change answers them all.
TEST_F(TcpServerTest, HoldsTwoThousandLongPollsOnOneThread) {
  constexpr size_t kClients = 2000;
  const int threads_before = ThreadCount();
  StartServer();
  EXPECT_EQ(ThreadCount(), threads_before + 1);
  recorder_.Hold(true);

  std::vector<UniqueFd> clients;
  clients.reserve(kClients);
  const std::string request = "GET /v1/watch?since=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(ConnectTcp(port_));
    ASSERT_TRUE(clients.back()) << "client " << i;
    ASSERT_TRUE(SendAll(clients.back().get(), request));
  }
  ASSERT_TRUE(recorder_.WaitForCalls(kClients)) << recorder_.count();
  EXPECT_EQ(server_->open_connections(), kClients);
  EXPECT_EQ(ThreadCount(), threads_before + 1);

  // The change: another thread answers every watcher.
  std::thread change([calls = recorder_.TakeCalls()] {
    for (const auto& call : calls) {
      call.responder->Respond(HttpResponse{200, "application/json", "changed"});
    }
  });
  change.join();

  std::vector<pollfd> fds(kClients);
  std::vector<std::string> got(kClients);
  for (size_t i = 0; i < kClients; ++i) fds[i] = {clients[i].get(), POLLIN, 0};
  size_t answered = 0;
  const auto deadline = std::chrono::steady_clock::now() + testing::kTestTimeout;
  while (answered < kClients && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (size_t i = 0; i < kClients; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[1024];
      const ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
      if (n > 0) got[i].append(buf, static_cast<size_t>(n));
      if (n <= 0 || got[i].find("\r\n\r\nchanged") != std::string::npos) {
        fds[i].fd = -1;  // poll skips it from now on
        ++answered;
      }
    }
  }
  size_t good = 0;
  for (const auto& answer : got) {
    if (answer.rfind("HTTP/1.1 200", 0) == 0 &&
        answer.find("\r\n\r\nchanged") != std::string::npos) {
      ++good;
    }
  }
  EXPECT_EQ(good, kClients);
  EXPECT_EQ(ThreadCount(), threads_before + 1);
}

}  // namespace
}  // namespace zl::overlay
