#include "wg/aead_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "crypto/keys.h"

namespace zl::wg {
namespace {

crypto::SymmetricKey Key(uint8_t fill) {
  crypto::SymmetricKey key;
  for (uint8_t& b : key.mutable_span()) b = fill;
  return key;
}

// Seals one block so the context holds `key`.
void Use(crypto::ChaChaPoly& aead, const crypto::SymmetricKey& key) {
  uint8_t buffer[16 + crypto::kAeadTagLen] = {};
  ASSERT_TRUE(aead.Seal(key, 0, ByteSpan(), ByteSpan(buffer, 16),
                        MutableByteSpan(buffer)));
}

TEST(AeadPoolTest, ACallerAloneAlwaysGetsTheSameContext) {
  AeadPool pool;
  crypto::ChaChaPoly* first = nullptr;
  {
    AeadPool::Lease lease = pool.Take();
    first = &lease.aead();
  }
  AeadPool::Lease again = pool.Take();
  EXPECT_EQ(&again.aead(), first);
  EXPECT_EQ(pool.size(), 1u);
}

TEST(AeadPoolTest, GrowsToTheNumberLentAtOnce) {
  AeadPool pool;
  {
    AeadPool::Lease a = pool.Take();
    AeadPool::Lease b = pool.Take();
    EXPECT_NE(&a.aead(), &b.aead());
  }
  {
    AeadPool::Lease a = pool.Take();
    AeadPool::Lease b = pool.Take();
  }
  EXPECT_EQ(pool.size(), 2u);
}

TEST(AeadPoolTest, WipeIdleWipesIdleContextsAtOnce) {
  AeadPool pool;
  {
    AeadPool::Lease a = pool.Take();
    AeadPool::Lease b = pool.Take();
    Use(a.aead(), Key(1));
    Use(b.aead(), Key(2));
  }
  EXPECT_TRUE(pool.AnyHoldsKeyForTesting());
  pool.WipeIdle();
  EXPECT_FALSE(pool.AnyHoldsKeyForTesting());
}

TEST(AeadPoolTest, ContextLentDuringWipeIsWipedWhenGivenBack) {
  AeadPool pool;
  {
    AeadPool::Lease lease = pool.Take();
    Use(lease.aead(), Key(3));
    pool.WipeIdle();  // the lent context cannot be wiped now
  }
  EXPECT_FALSE(pool.AnyHoldsKeyForTesting());
}

TEST(AeadPoolTest, ContextLentAfterWipeKeepsItsKey) {
  // Only keys from before a wipe go: the re-key saving survives otherwise.
  AeadPool pool;
  pool.WipeIdle();
  {
    AeadPool::Lease lease = pool.Take();
    Use(lease.aead(), Key(4));
  }
  EXPECT_TRUE(pool.AnyHoldsKeyForTesting());
}

TEST(AeadPoolTest, MovedLeaseGivesBackOnce) {
  AeadPool pool;
  {
    AeadPool::Lease a = pool.Take();
    AeadPool::Lease b(std::move(a));
  }
  AeadPool::Lease x = pool.Take();
  AeadPool::Lease y = pool.Take();  // a second context: the first came back once
  EXPECT_NE(&x.aead(), &y.aead());
  EXPECT_EQ(pool.size(), 2u);
}

TEST(AeadPoolTest, WipesRacingWithLoansLeaveNoKeyBehind) {
  AeadPool pool;
  std::atomic<bool> done{false};
  auto user = [&pool](uint8_t fill) {
    const crypto::SymmetricKey key = Key(fill);
    for (int i = 0; i < 5000; ++i) {
      AeadPool::Lease lease = pool.Take();
      Use(lease.aead(), key);
    }
  };
  std::thread wiper([&] {
    for (int i = 0; i < 100000 && !done.load(); ++i) pool.WipeIdle();
  });
  std::thread other([&] { user(5); });
  user(6);
  other.join();
  done.store(true);
  wiper.join();
  // Whatever the last wipe missed was used after it; one more catches all.
  pool.WipeIdle();
  EXPECT_FALSE(pool.AnyHoldsKeyForTesting());
}

}  // namespace
}  // namespace zl::wg
