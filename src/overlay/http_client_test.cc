#include "overlay/http_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "overlay/http_test_util.h"

namespace zl::overlay {
namespace {

using namespace std::chrono_literals;
using testing::RecordingHandler;
using testing::TempDir;

constexpr auto kTimeout = 3000ms;

const IpAddress kLoopback = IpAddress::V4(0x7f000001);

TEST(HttpTargetTest, DescribesUnixAndTcpTargets) {
  EXPECT_EQ((HttpTarget{"/run/x/control.sock", {}}).Describe(),
            "unix:/run/x/control.sock");
  EXPECT_EQ((HttpTarget{"", Endpoint(kLoopback, 51880)}).Describe(),
            "127.0.0.1:51880");
}

TEST(HttpClientTest, MissingUnixSocketIsENOENT) {
  TempDir dir;
  HttpClient client(HttpTarget{dir.File("absent.sock"), {}});
  auto got = client.Get("/v1/status", kTimeout);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ENOENT) << got.error().message();
  EXPECT_NE(got.error().message().find("unix:" + dir.File("absent.sock")),
            std::string::npos)
      << got.error().message();
}

TEST(HttpClientTest, UnixSocketWithoutServerIsECONNREFUSED) {
  TempDir dir;
  const std::string path = dir.File("stale.sock");
  { ASSERT_TRUE(ListenUnix(path).ok()); }  // closed: a stale socket file
  HttpClient client(HttpTarget{path, {}});
  auto got = client.Get("/v1/status", kTimeout);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ECONNREFUSED) << got.error().message();
}

TEST(HttpClientTest, TcpPortWithoutListenerIsECONNREFUSED) {
  // Bound but not listening: the port stays ours and refuses connections.
  UniqueFd holder(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage storage;
  const socklen_t len = net::ToSockaddr(Endpoint(kLoopback, 0), &storage);
  ASSERT_EQ(bind(holder.get(), reinterpret_cast<sockaddr*>(&storage), len), 0);
  auto port = BoundPort(holder.get());
  ASSERT_TRUE(port.ok());
  HttpClient client(HttpTarget{"", Endpoint(kLoopback, *port)});
  auto got = client.Get("/v1/members", kTimeout);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ECONNREFUSED) << got.error().message();
  EXPECT_NE(got.error().message().find(Endpoint(kLoopback, *port).ToString()),
            std::string::npos)
      << got.error().message();
}

// A server that never answers in time.
class SlowServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    recorder_.Hold(true);
    auto fd = ListenUnix(path_);
    ASSERT_TRUE(fd.ok());
    auto server = HttpServer::Start(std::move(fd).value(), recorder_.AsHandler());
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value();
  }

  TempDir dir_;
  std::string path_ = dir_.File("control.sock");
  RecordingHandler recorder_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(SlowServerTest, TimeoutIsETIMEDOUTAndNamesNoQuery) {
  HttpClient client(HttpTarget{path_, {}});
  const auto start = std::chrono::steady_clock::now();
  auto got = client.Get("/v1/watch?token=secret-value", 200ms);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ETIMEDOUT) << got.error().message();
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 2s);
  const std::string& message = got.error().message();
  EXPECT_NE(message.find("GET unix:" + path_ + "/v1/watch"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("secret-value"), std::string::npos) << message;
}

TEST_F(SlowServerTest, ClientRecoversAfterTimeout) {
  HttpClient client(HttpTarget{path_, {}});
  ASSERT_FALSE(client.Get("/v1/watch", 100ms).ok());
  recorder_.Hold(false);
  auto got = client.Get("/v1/status", kTimeout);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->body, "GET /v1/status ");
}

// A TCP server that answers each request as the test says, on loopback.
class TcpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fd = ListenTcp(Endpoint(kLoopback, 0));
    ASSERT_TRUE(fd.ok());
    auto port = BoundPort(fd->get());
    ASSERT_TRUE(port.ok());
    target_ = HttpTarget{"", Endpoint(kLoopback, *port)};
    auto server = HttpServer::Start(
        std::move(fd).value(),
        [this](const HttpRequest& request,
               std::shared_ptr<HttpResponder> responder) {
          seen_.push_back(request);
          if (request.path == "/missing") {
            responder->Respond(
                HttpResponse{404, "application/json", R"({"error":"none"})"});
            return;
          }
          responder->Respond(HttpResponse{200, "application/json",
                                          request.method + ":" + request.body});
        });
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value();
  }

  HttpTarget target_;
  std::vector<HttpRequest> seen_;  // server thread only, read after Stop
  std::unique_ptr<HttpServer> server_;
};

TEST_F(TcpClientTest, HttpErrorStatusIsAResponse) {
  HttpClient client(target_);
  auto got = client.Get("/missing", kTimeout);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->status, 404);
  EXPECT_EQ(got->body, R"({"error":"none"})");
}

TEST_F(TcpClientTest, SendsEveryMethodWithItsBody) {
  HttpClient client(target_);
  const std::string large(300 * 1024, 'z');  // past curl's Expect threshold
  struct Case {
    std::string method;
    std::string body;
  };
  const std::vector<Case> cases = {
      {"GET", ""},        {"POST", "{}"},   {"POST", ""},
      {"PUT", "[1,2]"},   {"DELETE", ""},   {"DELETE", "{\"a\":1}"},
      {"PATCH", "{}"},    {"POST", large},
  };
  for (const Case& c : cases) {
    auto got = client.Request(c.method, "/v1/x", c.body, kTimeout);
    ASSERT_TRUE(got.ok()) << c.method << ": " << got.error().message();
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(got->body, c.method + ":" + c.body) << c.method;
  }
  auto head = client.Request("HEAD", "/v1/x", "", kTimeout);
  ASSERT_TRUE(head.ok()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  server_->Stop();
  ASSERT_EQ(seen_.size(), cases.size() + 1);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(seen_[i].method, cases[i].method);
    EXPECT_EQ(seen_[i].body, cases[i].body);
  }
}

TEST_F(TcpClientTest, ReusesOneConnection) {
  HttpClient client(target_);
  for (int i = 0; i < 5; ++i) {
    auto got = client.Request("POST", "/v1/x", "{}", kTimeout);
    ASSERT_TRUE(got.ok()) << got.error().message();
  }
  EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(TcpClientTest, RejectsBadPathAndTimeout) {
  HttpClient client(target_);
  auto no_slash = client.Get("v1/x", kTimeout);
  ASSERT_FALSE(no_slash.ok());
  EXPECT_EQ(no_slash.error().code(), EINVAL);
  auto zero = client.Get("/v1/x", 0ms);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code(), EINVAL);
}

TEST(HttpClientTest, ServerThatClosesWithoutAnswerIsECONNRESET) {
  auto listener = ListenTcp(Endpoint(kLoopback, 0));
  ASSERT_TRUE(listener.ok());
  auto port = BoundPort(listener->get());
  ASSERT_TRUE(port.ok());
  std::thread rude([fd = listener->get()] {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 3000) != 1) return;
    UniqueFd conn(accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
    testing::ReadUntil(conn.get(), "\r\n\r\n");
  });  // closes without a word
  HttpClient client(HttpTarget{"", Endpoint(kLoopback, *port)});
  auto got = client.Get("/v1/x", kTimeout);
  rude.join();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), ECONNRESET) << got.error().message();
}

}  // namespace
}  // namespace zl::overlay
