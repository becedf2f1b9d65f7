// The UAPI carries private and preshared keys as hex text. Whatever buffer
// held that text must be wiped before the memory goes back to the heap: the
// parser's line, the server's input and output buffers, the get answer.
//
// This file replaces the global operator new/delete of the uapi_test binary:
// while a scan is armed, every block freed through operator delete is
// searched for pieces of a known key's hex form before it is released.

#include <gtest/gtest.h>
#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>

#include "uapi/codec.h"
#include "uapi/fake_control_api.h"
#include "uapi/server.h"

namespace {

// A private key and a preshared key as the UAPI writes them; chosen to occur
// nowhere else.
constexpr char kPrivateHex[] =
    "48f1c2aa77b3e5d41e0c9a6b2f38d7c5e1a4b9c06d3f2e8a1b7c5d9e0f4a3b68";
constexpr char kPresharedHex[] =
    "9c3e7a15d2b84f60e1a7c3d95b2f8e4a0d6c1b7f3e9a5d2c8b4f0e6a1d7c3b52";
// A freed block holding any 16 consecutive hex digits of either is a leak.
constexpr size_t kPiece = 16;

std::atomic<bool> g_scanning{false};
std::atomic<int> g_leaks{0};

bool HoldsPieceOf(const char* block, size_t size, const char* hex) {
  for (size_t at = 0; at + kPiece <= 64; at += kPiece) {
    if (memmem(block, size, hex + at, kPiece) != nullptr) return true;
  }
  return false;
}

void ScanBeforeFree(void* p) {
  if (p == nullptr || !g_scanning.load(std::memory_order_relaxed)) return;
  const auto* block = static_cast<const char*>(p);
  const size_t size = malloc_usable_size(p);
  if (HoldsPieceOf(block, size, kPrivateHex) ||
      HoldsPieceOf(block, size, kPresharedHex)) {
    g_leaks.fetch_add(1, std::memory_order_relaxed);
  }
}

void* Allocate(size_t n) {
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

// Arms the scan for its lifetime and counts the leaks found meanwhile.
class ScanFreedBlocks {
 public:
  ScanFreedBlocks() {
    g_leaks = 0;
    g_scanning = true;
  }
  ~ScanFreedBlocks() { g_scanning = false; }
  int leaks() const { return g_leaks.load(); }
};

}  // namespace

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
void operator delete(void* p) noexcept {
  ScanBeforeFree(p);
  std::free(p);
}
void operator delete[](void* p) noexcept {
  ScanBeforeFree(p);
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  ScanBeforeFree(p);
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  ScanBeforeFree(p);
  std::free(p);
}

namespace zl::uapi {
namespace {

// "set=1\nprivate_key=…\npublic_key=…\npreshared_key=…\n\n", built on the
// stack so that the test itself puts no key text on the heap.
struct SetRequest {
  std::array<char, 512> text{};
  size_t size = 0;
  void Add(const char* s) {
    std::memcpy(text.data() + size, s, std::strlen(s));
    size += std::strlen(s);
  }
  SetRequest() {
    Add("set=1\nprivate_key=");
    Add(kPrivateHex);
    Add("\npublic_key=");
    Add("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    Add("\npreshared_key=");
    Add(kPresharedHex);
    Add("\n\n");
  }
  std::string_view view() const { return {text.data(), size}; }
};

TEST(UapiWipeTest, ScannerSeesAnUnwipedBlock) {
  ScanFreedBlocks scan;
  {
    auto* leaky = new char[100];
    std::memcpy(leaky, kPrivateHex, 64);
    delete[] leaky;
  }
  EXPECT_EQ(scan.leaks(), 1);
}

TEST(UapiWipeTest, ParserLeavesNoKeyTextInFreedMemory) {
  const SetRequest request;
  ScanFreedBlocks scan;
  {
    // One byte at a time: the line buffer grows through several blocks.
    RequestParser parser;
    for (char c : request.view()) parser.Feed(std::string_view(&c, 1));
    ASSERT_EQ(parser.status(), RequestParser::Status::kComplete);
    Request taken = parser.TakeRequest();
    ASSERT_TRUE(taken.config.private_key.has_value());
  }
  EXPECT_EQ(scan.leaks(), 0);
}

TEST(UapiWipeTest, GetAnswerLeavesNoKeyTextInFreedMemory) {
  const SetRequest request;
  auto parsed = ParseRequest(request.view());
  ASSERT_TRUE(parsed.ok());
  FakeControlApi api;
  ASSERT_TRUE(api.Apply(parsed->config).ok());
  auto state = api.Snapshot();
  ASSERT_TRUE(state.ok());
  ScanFreedBlocks scan;
  {
    crypto::SecretBuffer answer;
    SerializeGet(*state, answer);
    ASSERT_NE(answer.view().find(kPrivateHex), std::string_view::npos);
  }
  EXPECT_EQ(scan.leaks(), 0);
}

TEST(UapiWipeTest, ServerLeavesNoKeyTextInFreedMemory) {
  char dir_template[] = "/tmp/zl-uapi-wipe-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/wg0.sock";
  const SetRequest request;
  int leaks = 0;
  {
    FakeControlApi api;
    ScanFreedBlocks scan;
    {
      auto server = UapiServer::Start(path, api);
      ASSERT_TRUE(server.ok()) << server.error().message();
      const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, path.data(), path.size());
      ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
                0);
      // set, then get (whose answer carries both keys), then EOF; the
      // answers are read into a stack buffer until the server closes.
      ASSERT_EQ(send(fd, request.text.data(), request.size, MSG_NOSIGNAL),
                ssize_t(request.size));
      ASSERT_EQ(send(fd, "get=1\n\n", 7, MSG_NOSIGNAL), 7);
      shutdown(fd, SHUT_WR);
      std::array<char, 4096> answers{};
      size_t got = 0;
      for (int i = 0; i < 100; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 50) != 1) continue;
        const ssize_t n =
            recv(fd, answers.data() + got, answers.size() - got - 1, 0);
        if (n <= 0) break;
        got += size_t(n);
      }
      close(fd);
      EXPECT_NE(std::strstr(answers.data(), kPrivateHex), nullptr);
      (*server)->Stop();
    }
    leaks = scan.leaks();
  }
  std::filesystem::remove_all(dir);
  EXPECT_EQ(leaks, 0);
}

}  // namespace
}  // namespace zl::uapi
