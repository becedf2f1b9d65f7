#include "uapi/server.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "uapi/fake_control_api.h"

namespace zl::uapi {
namespace {

using namespace std::chrono_literals;

const std::string kPeerA = std::string(62, '0') + "a1";

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

UniqueFd Connect(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = Address(path);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (connect(fd.get(), sa, sizeof(addr)) != 0) return UniqueFd();
  return fd;
}

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    data.remove_prefix(size_t(n));
  }
}

struct ReadResult {
  std::string data;
  bool eof = false;
};

// Reads until `done(data)` holds, EOF, or `timeout`.
template <typename Done>
ReadResult ReadUntil(int fd, Done done,
                     std::chrono::milliseconds timeout = 5000ms) {
  ReadResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done(r.data)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, int(left.count())) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      r.eof = true;
      break;
    }
    r.data.append(buf, size_t(n));
  }
  return r;
}

// One whole answer: lines ending with "errno=N\n\n".
bool AnswerComplete(const std::string& d, size_t answers = 1) {
  size_t count = 0;
  for (size_t pos = 0; (pos = d.find("errno=", pos)) != std::string::npos;
       ++pos) {
    size_t end = d.find("\n\n", pos);
    if (end == std::string::npos) return false;
    ++count;
  }
  return count >= answers;
}

std::string ReadAnswer(int fd) {
  return ReadUntil(fd, [](const std::string& d) { return AnswerComplete(d); })
      .data;
}

ReadResult ReadToEof(int fd, std::chrono::milliseconds timeout = 5000ms) {
  return ReadUntil(
      fd, [](const std::string&) { return false; }, timeout);
}

std::string Transact(const std::string& path, std::string_view request) {
  UniqueFd fd = Connect(path);
  EXPECT_TRUE(fd.valid());
  SendAll(fd.get(), request);
  return ReadAnswer(fd.get());
}

class UapiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zl-uapi-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/wg0.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<UapiServer> StartServer(UapiServerOptions options = {}) {
    auto s = UapiServer::Start(path_, api_, std::move(options));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::string dir_;
  std::string path_;
  FakeControlApi api_;
};

TEST_F(UapiServerTest, SetThenGetThroughTheSocket) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  ASSERT_TRUE(fd.valid());
  SendAll(fd.get(), "set=1\nlisten_port=51820\npublic_key=" + kPeerA +
                        "\nallowed_ip=10.0.0.0/24\n\n");
  EXPECT_EQ(ReadAnswer(fd.get()), "errno=0\n\n");
  SendAll(fd.get(), "get=1\n\n");
  std::string got = ReadAnswer(fd.get());
  EXPECT_EQ(got, SerializeGet(api_.Snapshot().value()));
  EXPECT_NE(got.find("listen_port=51820\npublic_key=" + kPeerA),
            std::string::npos)
      << got;
}

TEST_F(UapiServerTest, PipelinedTransactionsAreAnsweredInOrder) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "get=1\n\nset=1\nfwmark=5\n\nget=1\n\n");
  auto r = ReadUntil(fd.get(),
                     [](const std::string& d) { return AnswerComplete(d, 3); });
  EXPECT_EQ(r.data, "errno=0\n\nerrno=0\n\nfwmark=5\nerrno=0\n\n");
}

TEST_F(UapiServerTest, SocketFileIsMode0600AndDirectoriesAreCreated) {
  path_ = dir_ + "/a/b/wg0.sock";
  auto server = StartServer();
  struct stat st;
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/a/b").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0700, 0700u);
  EXPECT_TRUE(server->SocketFileStillOurs());
}

// Makes every chmod-family system call of this process fail with EPERM.
// False if seccomp filters are unavailable.
bool DenyChmod() {
  std::vector<sock_filter> filter = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr))};
  std::vector<long> calls = {__NR_fchmod, __NR_fchmodat};
#ifdef __NR_chmod
  calls.push_back(__NR_chmod);
#endif
#ifdef __NR_fchmodat2
  calls.push_back(__NR_fchmodat2);
#endif
  for (long nr : calls) {
    filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, uint32_t(nr), 0, 1));
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  }
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// chmod(path) after bind follows whatever the path names by then (a symlink
// swapped in). The mode must come from the umask at bind instead: in a child
// where chmod always fails and the umask is 0, the socket is still 0600, and
// the umask is restored afterwards.
TEST_F(UapiServerTest, SocketModeComesFromTheUmaskNotFromAChmodOfThePath) {
  enum Exit {
    kOk = 0,
    kStartFailed = 10,
    kWrongMode,
    kUmaskChanged,
    kSkip = 77
  };
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    umask(0);
    if (!DenyChmod()) _exit(kSkip);
    FakeControlApi api;
    auto server = UapiServer::Start(path_, api);
    if (!server.ok()) _exit(kStartFailed);
    struct stat st;
    if (lstat(path_.c_str(), &st) != 0 || (st.st_mode & 0777) != 0600) {
      _exit(kWrongMode);
    }
    if (umask(0) != 0) _exit(kUmaskChanged);
    (*server)->Stop();
    _exit(kOk);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kSkip) GTEST_SKIP() << "no seccomp filters";
  EXPECT_EQ(WEXITSTATUS(status), kOk)
      << "10: Start failed (it chmod()s the path), 11: socket mode not 0600, "
         "12: umask not restored";
}

TEST_F(UapiServerTest, RefusesASocketDirectoryOthersCanWriteTo) {
  for (mode_t mode : {0777, 0770, 0722, 01777}) {
    ASSERT_EQ(chmod(dir_.c_str(), mode), 0);
    auto s = UapiServer::Start(path_, api_);
    ASSERT_FALSE(s.ok()) << std::oct << mode;
    EXPECT_EQ(s.error().code(), EPERM);
    EXPECT_NE(s.error().message().find("writable by group or others"),
              std::string::npos)
        << s.error().message();
    struct stat st;
    EXPECT_NE(lstat(path_.c_str(), &st), 0) << "no socket was created";
  }
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  EXPECT_NE(StartServer(), nullptr);
}

TEST_F(UapiServerTest, RefusesASocketDirectoryOwnedBySomeoneElse) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the directory away";
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chown(dir_.c_str(), 4242, 4242), 0);
  auto s = UapiServer::Start(path_, api_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EPERM);
  EXPECT_NE(s.error().message().find("owned by uid 4242"), std::string::npos)
      << s.error().message();
}

TEST_F(UapiServerTest, ConcurrentClients) {
  auto server = StartServer();
  constexpr int kClients = 16;
  constexpr int kRounds = 20;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      UniqueFd fd = Connect(path_);
      for (int i = 0; i < kRounds; ++i) {
        SendAll(fd.get(),
                "set=1\nlisten_port=" + std::to_string(1000 + t) + "\n\n");
        if (ReadAnswer(fd.get()) != "errno=0\n\n") return;
        SendAll(fd.get(), "get=1\n\n");
        std::string got = ReadAnswer(fd.get());
        if (got.rfind("listen_port=", 0) != 0 ||
            got.find("errno=0\n\n") == std::string::npos) {
          return;
        }
        ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kClients * kRounds);
  EXPECT_EQ(api_.apply_calls(), kClients * kRounds);
}

TEST_F(UapiServerTest, StalledClientDoesNotBlockOthers) {
  auto server = StartServer();
  UniqueFd stalled = Connect(path_);
  SendAll(stalled.get(), "set=1\nfwmark=1\n");  // never finished
  UniqueFd silent = Connect(path_);             // never says anything
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Transact(path_, "get=1\n\n"), "errno=0\n\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(api_.apply_calls(), 0);
}

TEST_F(UapiServerTest, DisconnectMidTransactionAppliesNothingAndServerGoesOn) {
  auto server = StartServer();
  {
    UniqueFd fd = Connect(path_);
    SendAll(fd.get(), "set=1\nfwmark=1\npublic_key=" + kPeerA.substr(0, 20));
  }  // closed mid-line
  EXPECT_EQ(Transact(path_, "set=1\nfwmark=2\n\n"), "errno=0\n\n");
  EXPECT_EQ(Transact(path_, "get=1\n\n"), "fwmark=2\nerrno=0\n\n");
  EXPECT_EQ(api_.apply_calls(), 1);
}

TEST_F(UapiServerTest, HalfCloseMidSetIsAnsweredWithEproto) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "set=1\nfwmark=1\n");
  shutdown(fd.get(), SHUT_WR);
  auto r = ReadToEof(fd.get());
  EXPECT_EQ(r.data, "errno=-71\n\n");
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(api_.apply_calls(), 0);
}

TEST_F(UapiServerTest, HalfCloseAfterAGetIsAnsweredThenClosed) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "get=1\n\n");
  shutdown(fd.get(), SHUT_WR);
  auto r = ReadToEof(fd.get());
  EXPECT_EQ(r.data, "errno=0\n\n");
  EXPECT_TRUE(r.eof);
}

TEST_F(UapiServerTest, BadSetLineGetsErrnoThenTheConnectionCloses) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "set=1\nbogus=1\n\nget=1\n\n");
  auto r = ReadToEof(fd.get());
  EXPECT_EQ(r.data, "errno=-22\n\n");
  EXPECT_TRUE(r.eof);
}

TEST_F(UapiServerTest, GarbageOperationClosesWithoutAnAnswer) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), std::string("\x00\x01garbage\xff\n", 11));
  auto r = ReadToEof(fd.get());
  EXPECT_EQ(r.data, "");
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(Transact(path_, "get=1\n\n"), "errno=0\n\n");  // still serving
}

TEST_F(UapiServerTest, DeviceErrorIsAnsweredAndTheConnectionStaysUsable) {
  auto server = StartServer();
  api_.FailApplyWith(Error(EADDRINUSE, "port taken"));
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "set=1\nlisten_port=1\n\n");
  EXPECT_EQ(ReadAnswer(fd.get()), "errno=-98\n\n");
  SendAll(fd.get(), "get=1\n\n");
  EXPECT_EQ(ReadAnswer(fd.get()), "errno=0\n\n");
}

TEST_F(UapiServerTest, FailedGetIsAnsweredWithItsErrnoNotAnEmptyConfig) {
  auto server = StartServer();
  device::ConfigRequest config;
  config.listen_port = 51820;
  ASSERT_TRUE(api_.Apply(config).ok());
  api_.FailSnapshotWith(Error(ESHUTDOWN, "device is shutting down"));
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "get=1\n\n");
  EXPECT_EQ(ReadAnswer(fd.get()), "errno=-108\n\n");
  api_.FailSnapshotWith(std::nullopt);
  SendAll(fd.get(), "get=1\n\n");
  EXPECT_EQ(ReadAnswer(fd.get()), "listen_port=51820\nerrno=0\n\n");
}

TEST_F(UapiServerTest, OverLongLineGetsEio) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "set=1\nlisten_port=" + std::string(100'000, '0') + "\n\n");
  auto r = ReadToEof(fd.get());
  EXPECT_EQ(r.data, "errno=-5\n\n");
  EXPECT_TRUE(r.eof);
}

TEST_F(UapiServerTest, TransactionCapIsEnforced) {
  UapiServerOptions options;
  options.max_transaction_bytes = 1000;
  auto server = StartServer(options);
  UniqueFd fd = Connect(path_);
  std::string req = "set=1\n";
  for (int i = 0; i < 200; ++i) req += "fwmark=1\n";
  send(fd.get(), req.data(), req.size(),
       MSG_NOSIGNAL);  // may be cut short by the close
  auto r = ReadToEof(fd.get());
  EXPECT_EQ(r.data, "errno=-" + std::to_string(EMSGSIZE) + "\n\n");
  EXPECT_TRUE(r.eof);
}

TEST_F(UapiServerTest, ClientsOverTheCapAreClosed) {
  UapiServerOptions options;
  options.max_clients = 2;
  auto server = StartServer(options);
  UniqueFd a = Connect(path_), b = Connect(path_);
  SendAll(a.get(), "get=1\n\n");
  EXPECT_EQ(ReadAnswer(a.get()), "errno=0\n\n");
  SendAll(b.get(), "get=1\n\n");
  EXPECT_EQ(ReadAnswer(b.get()), "errno=0\n\n");
  UniqueFd c = Connect(path_);
  EXPECT_TRUE(ReadToEof(c.get()).eof);
  a.Reset();
  // The slot is free again once the server has seen `a` go.
  std::string got;
  for (int i = 0; i < 50 && got.empty(); ++i) {
    UniqueFd d = Connect(path_);
    send(d.get(), "get=1\n\n", 7, MSG_NOSIGNAL);
    got = ReadAnswer(d.get());
    if (got.empty()) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(got, "errno=0\n\n");
}

TEST_F(UapiServerTest, IdleConnectionsAreClosed) {
  UapiServerOptions options;
  options.idle_timeout = 200ms;
  auto server = StartServer(options);
  UniqueFd silent = Connect(path_);
  UniqueFd done = Connect(path_);
  SendAll(done.get(), "get=1\n\n");
  EXPECT_EQ(ReadAnswer(done.get()), "errno=0\n\n");
  auto start = std::chrono::steady_clock::now();
  for (int fd : {silent.get(), done.get()}) {
    auto r = ReadToEof(fd, 5000ms);
    EXPECT_TRUE(r.eof);
    EXPECT_EQ(r.data, "");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

// A byte now and then used to refresh the idle timer, so slow clients could
// hold every slot forever. A transaction must now be read and answered by
// its deadline, however busy the client looks.
TEST_F(UapiServerTest, TricklingClientIsClosedAtTheTransactionDeadline) {
  UapiServerOptions options;
  options.transaction_deadline = 300ms;
  options.idle_timeout = 60s;
  auto server = StartServer(options);
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "set=1\n");
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  std::string answer;
  for (int i = 0; i < 60 && !closed; ++i) {  // 60 x 50 ms, 3 s at most
    if (send(fd.get(), "f", 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, 50) == 1) {
      char buf[256];
      ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
      if (n <= 0) closed = true;
      if (n > 0) answer.append(buf, size_t(n));
    }
  }
  EXPECT_TRUE(closed) << "a trickling client held its slot for 3 s";
  EXPECT_EQ(answer, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // The server goes on serving others.
  EXPECT_EQ(Transact(path_, "get=1\n\n"), "errno=0\n\n");
}

TEST_F(UapiServerTest, DefaultBoundsKeepBufferedRequestsSmall) {
  UapiServerOptions defaults;
  // Every client at its transaction limit: at most 128 MiB of request text.
  EXPECT_LE(defaults.max_clients * defaults.max_transaction_bytes,
            size_t{128} << 20);
  EXPECT_LE(defaults.transaction_deadline, std::chrono::seconds(30));
}

TEST_F(UapiServerTest, SlowReaderOfALargeAnswerDoesNotBlockOthers) {
  // ~4000 peers: an answer of over 1 MiB, more than the socket buffers hold.
  std::string set = "set=1\n";
  for (int i = 0; i < 4000; ++i) {
    char key[65];
    std::snprintf(key, sizeof(key), "%064x", i + 1);
    set += std::string("public_key=") + key + "\nallowed_ip=10." +
           std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\n";
  }
  set += "\n";
  auto server = StartServer();
  EXPECT_EQ(Transact(path_, set), "errno=0\n\n");
  UniqueFd slow = Connect(path_);
  SendAll(slow.get(),
          "get=1\n\nget=1\n\nget=1\n\n");  // then reads nothing for now
  std::this_thread::sleep_for(100ms);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Transact(path_, "set=1\nfwmark=3\n\n"), "errno=0\n\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  auto r = ReadUntil(slow.get(),
                     [](const std::string& d) { return AnswerComplete(d, 3); });
  EXPECT_GT(SerializeGet(api_.Snapshot().value()).size(), size_t{1} << 20);
  std::vector<std::string> answers;
  for (size_t pos = 0, end;
       (end = r.data.find("errno=0\n\n", pos)) != std::string::npos;
       pos = end + 9) {
    answers.push_back(r.data.substr(pos, end + 9 - pos));
  }
  ASSERT_EQ(answers.size(), 3u);
  // Each answer is bigger than the pending-output cap, so the third get was
  // read only after the client began reading, well after the set.
  EXPECT_EQ(answers[2], SerializeGet(api_.Snapshot().value()));
  EXPECT_EQ(answers[0].rfind("public_key=", 0), 0u);  // served before the set
}

TEST_F(UapiServerTest, StaleSocketFileIsReplaced) {
  {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr = Address(path_);
    ASSERT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
  }  // closed: the file stays behind, nobody listens
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Transact(path_, "get=1\n\n"), "errno=0\n\n");
}

TEST_F(UapiServerTest, LiveSocketIsRefused) {
  auto first = StartServer();
  FakeControlApi other;
  auto second = UapiServer::Start(path_, other);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EADDRINUSE);
  EXPECT_TRUE(first->SocketFileStillOurs());
  EXPECT_EQ(Transact(path_, "get=1\n\n"), "errno=0\n\n");
}

TEST_F(UapiServerTest, NonSocketFileIsLeftAlone) {
  std::ofstream(path_) << "not a socket";
  auto s = UapiServer::Start(path_, api_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EEXIST);
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));
}

TEST_F(UapiServerTest, OverLongPathIsRefused) {
  auto s = UapiServer::Start(dir_ + "/" + std::string(200, 'x'), api_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ENAMETOOLONG);
}

TEST_F(UapiServerTest, StopRemovesTheFileAndClosesConnections) {
  auto server = StartServer();
  UniqueFd fd = Connect(path_);
  SendAll(fd.get(), "set=1\n");
  auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_TRUE(ReadToEof(fd.get()).eof);
  server->Stop();  // idempotent
  server.reset();
}

TEST_F(UapiServerTest, StopLeavesASocketThatIsNoLongerOurs) {
  auto server = StartServer();
  ASSERT_EQ(unlink(path_.c_str()), 0);
  FakeControlApi other;
  auto second = UapiServer::Start(path_, other);
  ASSERT_TRUE(second.ok());
  server->Stop();
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_TRUE((*second)->SocketFileStillOurs());
}

TEST_F(UapiServerTest, DeletingTheSocketFileIsReported) {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  UapiServerOptions options;
  options.on_socket_file_gone = [&] {
    std::lock_guard lock(mu);
    ++calls;
    cv.notify_all();
  };
  auto server = StartServer(std::move(options));
  chmod(path_.c_str(), 0600);  // an attribute change alone is not a deletion
  std::this_thread::sleep_for(50ms);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(calls, 0);
  }
  ASSERT_EQ(unlink(path_.c_str()), 0);
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, 5s, [&] { return calls > 0; }));
  EXPECT_FALSE(server->SocketFileStillOurs());
  lock.unlock();
  std::this_thread::sleep_for(50ms);
  lock.lock();
  EXPECT_EQ(calls, 1);
}

TEST_F(UapiServerTest, RenamingAnotherFileOverTheSocketIsReported) {
  std::atomic<int> calls{0};
  UapiServerOptions options;
  options.on_socket_file_gone = [&] { ++calls; };
  auto server = StartServer(std::move(options));
  std::string other = dir_ + "/other";
  std::ofstream(other) << "x";
  ASSERT_EQ(rename(other.c_str(), path_.c_str()), 0);
  for (int i = 0; i < 250 && calls == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(server->SocketFileStillOurs());
  server->Stop();
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));  // not ours: left alone
}

TEST(UapiSocketPathTest, IsWireguardGos) {
  EXPECT_EQ(SocketPathForInterface("wg0"), "/var/run/wireguard/wg0.sock");
}

}  // namespace
}  // namespace zl::uapi
