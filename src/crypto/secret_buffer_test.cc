#include "crypto/secret_buffer.h"

#include <gtest/gtest.h>

#include <utility>

namespace zl::crypto {
namespace {

TEST(SecretBufferTest, AppendsResizesAndClears) {
  SecretBuffer b;
  EXPECT_TRUE(b.empty());
  b += "private_key=";
  b.append("00ff");
  b.push_back('\n');
  EXPECT_EQ(b.view(), "private_key=00ff\n");
  b.resize(11);
  EXPECT_EQ(b.view(), "private_key");
  b.resize(13);
  EXPECT_EQ(b.view(), std::string_view("private_key\0\0", 13));
  b.reserve(1000);
  EXPECT_EQ(b.size(), 13u);
  b.clear();
  EXPECT_TRUE(b.empty());
}

TEST(SecretBufferTest, ShrinkingWipesWhatItDrops) {
  SecretBuffer b;
  b += "0123456789";
  char* data = b.data();
  b.resize(4);  // keeps the block: the dropped bytes are zero now
  for (int i = 4; i < 10; ++i) EXPECT_EQ(data[i], 0) << i;
}

TEST(SecretBufferTest, MovesItsBytes) {
  SecretBuffer a;
  a += "secret";
  SecretBuffer b = std::move(a);
  EXPECT_EQ(b.view(), "secret");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): specified
  a = std::move(b);
  EXPECT_EQ(a.view(), "secret");
}

}  // namespace
}  // namespace zl::crypto
