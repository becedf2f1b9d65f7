// The SQLite store under stress: tampering found by CheckConsistency,
// concurrent writers (threads and processes) never sharing a subnet, and
// kill -9 at random moments leaving a store that opens and is consistent.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "overlay/ipam.h"
#include "overlay/sqlite_store_test_util.h"

namespace zl::overlay {
namespace {

using namespace store_test;  // NOLINT: the store tests' helpers
namespace fs = std::filesystem;

// --- consistency ---

TEST_F(SqliteStoreTest, CheckConsistencyFindsTampering) {
  Init();
  Join(1, "web");
  Token(2);
  ASSERT_OK(store_->RegisterName(AddressRecord("files", "10.200.1.7")));
  ASSERT_OK(store_->CheckConsistency());
  store_.reset();
  const char* tamperings[] = {
      "DELETE FROM subnets WHERE member = 'web' AND family = 6",
      "UPDATE subnets SET idx = 70000 WHERE member = 'web' AND family = 6",
      "UPDATE tokens SET subnet4 = '10.200.9.0/24' WHERE id = "
      "'0000000000000002'",
      "INSERT INTO changes (revision, kind, name) VALUES (99, "
      "'member_removed', 'x')",
      "DELETE FROM changes WHERE revision = 2",
      "UPDATE names SET revision = 9",
      "UPDATE members SET control = 0",
      "UPDATE tokens SET holds_subnets = 0 WHERE id = '0000000000000002'",
  };
  const std::string copy = dir_.File("copy.db");
  for (const char* sql : tamperings) {
    std::error_code ec;
    fs::remove(copy, ec);
    RawSql(path_, "PRAGMA wal_checkpoint(TRUNCATE)");
    fs::copy_file(path_, copy);
    RawSql(copy, sql);
    auto store = OpenSqliteStore(copy);
    ASSERT_OK(store);
    auto r = (*store)->CheckConsistency();
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.error().code(), EIO) << sql;
    EXPECT_NE(r.error().message().find("store inconsistent"), std::string::npos)
        << r.error().message();
  }
}

// --- concurrency ---

TEST_F(SqliteStoreTest, ConcurrentTokenCreationFromThreadsNeverSharesASubnet) {
  Init();
  constexpr int kThreads = 4, kPerThread = 10;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> subnets(kThreads);
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto store = OpenSqliteStore(path_);
      if (!store.ok()) {
        errors[t] = store.error().message();
        return;
      }
      for (int i = 0; i < kPerThread; ++i) {
        const uint32_t n = uint32_t(t * 100 + i + 1);
        auto token =
            (*store)->CreateToken(TokenId(n), "", Key(n), kNow, kNow + kHour);
        if (!token.ok()) {
          errors[t] = token.error().message();
          return;
        }
        subnets[t].push_back(token->subnet4.ToString());
        subnets[t].push_back(token->subnet6->ToString());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> distinct;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    distinct.insert(subnets[t].begin(), subnets[t].end());
  }
  EXPECT_EQ(distinct.size(), size_t(2 * kThreads * kPerThread));
  // Lowest first overall: exactly the first 40 after the control node's.
  for (uint32_t i = 1; i <= kThreads * kPerThread; ++i) {
    EXPECT_TRUE(distinct.count(NthSubnet(Params().cidr4, 24, i)->ToString()))
        << i;
  }
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest,
       ConcurrentTokenCreationFromProcessesNeverSharesASubnet) {
  Init();
  store_.reset();  // no open connection may cross fork()
  constexpr int kProcesses = 5, kPerProcess = 8;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = OpenSqliteStore(path_);
      if (!store.ok()) _exit(2);
      for (int i = 0; i < kPerProcess; ++i) {
        const uint32_t n = uint32_t(p * 100 + i + 1);
        if (!(*store)
                 ->CreateToken(TokenId(n), "", Key(n), kNow, kNow + kHour)
                 .ok())
          _exit(3);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "status " << status;
  }
  store_ = Open();
  auto tokens = store_->Tokens();
  ASSERT_OK(tokens);
  ASSERT_EQ(tokens->size(), size_t(kProcesses * kPerProcess));
  std::set<Cidr> distinct;
  for (const TokenRecord& t : *tokens) {
    distinct.insert(t.subnet4);
    distinct.insert(*t.subnet6);
  }
  EXPECT_EQ(distinct.size(), size_t(2 * kProcesses * kPerProcess));
  ASSERT_OK(store_->CheckConsistency());
}

// --- crashes ---

// What a child does until it is killed: every kind of write, in a loop.
[[noreturn]] void MutateForever(const std::string& path, int round,
                                int ready_fd) {
  auto opened = OpenSqliteStore(path);
  if (!opened.ok()) _exit(2);
  Store& store = **opened;
  if (write(ready_fd, "r", 1) != 1) _exit(3);
  for (uint32_t i = 0;; ++i) {
    const uint32_t n = uint32_t(round) * 100000 + i * 2 + 1;
    const std::string name = "n" + std::to_string(n);
    (void)store.CreateToken(TokenId(n), "", Key(n), kNow, kNow + kHour);
    (void)store.RedeemToken(TokenId(n), name, Key(n + 1), Ep("192.0.2.9:51820"),
                            kNow);
    (void)store.UpdateEndpoint(name, Ep("192.0.2.10:51820"));
    (void)store.RegisterName(AddressRecord(("x" + name).c_str(), "10.200.1.1"));
    (void)store.CreateToken(TokenId(n + 1), "", Key(n + 1000000), kNow,
                            kNow + kHour);
    (void)store.RevokeToken(TokenId(n + 1));
    if (i % 4 != 0) {  // keep a few members, release the rest
      (void)store.RemoveMember(name);
      (void)store.UnregisterName("x" + name);
    }
  }
}

TEST_F(SqliteStoreTest, KillNineAtRandomMomentsLeavesAConsistentStore) {
  Init();
  store_.reset();
  std::mt19937 rng(12345);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int rounds = 0;
  for (; rounds < 10 && std::chrono::steady_clock::now() < deadline; ++rounds) {
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(pipe_fds[0]);
      MutateForever(path_, rounds, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    char ready = 0;
    const bool started = read(pipe_fds[0], &ready, 1) == 1;
    close(pipe_fds[0]);
    // Let it write for a random while (up to a few hundred transactions),
    // then kill it without warning.
    if (started) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300000));
    }
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(started) << "the child could not open the store (status "
                         << status << ")";
    ASSERT_TRUE(WIFSIGNALED(status))
        << "the child exited on its own: " << status;

    auto reopened = OpenSqliteStore(path_);
    ASSERT_OK(reopened);
    ASSERT_OK((*reopened)->CheckConsistency());
    auto snapshot = (*reopened)->Snapshot();
    ASSERT_OK(snapshot);
    ASSERT_OK(SnapshotFromJson(ToJson(*snapshot)));
  }
  EXPECT_GE(rounds, 3);
  store_ = Open();
  EXPECT_GT(Revision(), 1u) << "the children never committed anything";
  std::printf("%d rounds, %llu revisions\n", rounds,
              (unsigned long long)Revision());
}

}  // namespace
}  // namespace zl::overlay
