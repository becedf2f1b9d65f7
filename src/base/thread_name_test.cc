#include "base/thread_name.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace zl {
namespace {

#if defined(__linux__)
// Names a new thread `name` and returns the name that thread then reads.
std::string NameOnANewThread(const std::string& name) {
  std::string inside;
  std::thread t([&] {
    SetThreadName(name);
    inside = CurrentThreadName();
  });
  t.join();
  return inside;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = CurrentThreadName();
  EXPECT_EQ(NameOnANewThread("zl-test-1"), "zl-test-1");
  EXPECT_EQ(CurrentThreadName(), before);
}

TEST(ThreadNameTest, ALongNameIsCutTo15Bytes) {
  EXPECT_EQ(NameOnANewThread("zl-handshake-worker-12"), "zl-handshake-wo");
}
#endif

}  // namespace
}  // namespace zl
