#pragma once
// Helpers for the HTTP server and client tests only: a temporary directory,
// a handler that records what it gets, raw client sockets, and bounded waits.
// Not part of the layer's API.
//
// Thread safety: RecordingHandler may be called from any thread; the rest are
// free functions over the caller's values.

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/unique_fd.h"
#include "net/sockaddr.h"
#include "overlay/http_server.h"

namespace zl::overlay::testing {

// Every wait in these tests is bounded by this.
inline constexpr std::chrono::milliseconds kTestTimeout{4000};

class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/zl-http-XXXXXX";
    path_ = ::mkdtemp(templ);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Records every request; answers at once with `answer` unless `hold` is
// set, in which case it keeps the responders for the test to answer.
class RecordingHandler {
 public:
  struct Call {
    HttpRequest request;
    std::shared_ptr<HttpResponder> responder;
  };

  void Hold(bool hold) {
    MutexLock lock(mu_);
    hold_ = hold;
  }
  HttpHandler AsHandler() {
    return [this](const HttpRequest& request,
                  std::shared_ptr<HttpResponder> responder) {
      MutexLock lock(mu_);
      if (!hold_) {
        HttpResponse answer;
        answer.body = request.method + " " + request.path + " " + request.body;
        answer.content_type = "text/plain";
        responder->Respond(std::move(answer));
        responder.reset();
      }
      calls_.push_back(Call{request, std::move(responder)});
      cv_.NotifyAll();
    };
  }
  // Waits until `n` requests came in; false on timeout.
  bool WaitForCalls(size_t n) {
    MutexLock lock(mu_);
    return cv_.WaitFor(mu_, kTestTimeout, [&]() REQUIRES(mu_) {
      return calls_.size() >= n;
    });
  }
  std::vector<Call> TakeCalls() {
    MutexLock lock(mu_);
    return std::exchange(calls_, {});
  }
  size_t count() {
    MutexLock lock(mu_);
    return calls_.size();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool hold_ GUARDED_BY(mu_) = false;
  std::vector<Call> calls_ GUARDED_BY(mu_);
};

// Polls `done` every millisecond until it holds or kTestTimeout passes.
template <typename Pred>
bool Eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + kTestTimeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ::usleep(1000);
  }
  return true;
}

// The number of threads of this process.
inline int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

// A blocking client socket connected to the unix socket at `path`.
inline UniqueFd ConnectUnix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    return UniqueFd();
  }
  return fd;
}

// A blocking client socket connected to 127.0.0.1:`port`.
inline UniqueFd ConnectTcp(uint16_t port) {
  sockaddr_storage storage;
  const socklen_t len = net::ToSockaddr(
      Endpoint(IpAddress::V4(0x7f000001), port), &storage);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), len) != 0) {
    return UniqueFd();
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until the peer closes or kTestTimeout passes; returns what came.
inline std::string ReadUntilClosed(int fd) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + kTestTimeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Reads until `needle` has arrived (or the peer closed, or kTestTimeout).
inline std::string ReadUntil(int fd, std::string_view needle) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + kTestTimeout;
  char buf[4096];
  while (out.find(needle) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace zl::overlay::testing
