#include "device/handshake_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "base/bytes.h"

namespace zl::device {
namespace {

const crypto::SipHashKey kKey = {1, 2,  3,  4,  5,  6,  7,  8,
                                 9, 10, 11, 12, 13, 14, 15, 16};
const MonoTime kT0(std::chrono::seconds(100));

Endpoint Source(uint8_t last) {
  return Endpoint(IpAddress::V4(0xc0000200u + last), 51820);
}

// A 148-byte initiation-shaped message whose byte 4 is `tag`.
std::vector<uint8_t> Message(uint8_t tag) {
  std::vector<uint8_t> m(148, 0);
  m[0] = 1;
  m[4] = tag;
  return m;
}

TEST(HandshakeMessageTest, TypesOneToThreeUpTo148BytesAreHandshakes) {
  std::vector<uint8_t> m(148, 0);
  for (uint8_t type : {1, 2, 3}) {
    m[0] = type;
    EXPECT_TRUE(IsHandshakeMessage(m)) << int(type);
  }
  m[0] = 4;
  EXPECT_FALSE(IsHandshakeMessage(m));  // transport data
  m[0] = 0;
  EXPECT_FALSE(IsHandshakeMessage(m));
  std::vector<uint8_t> big(149, 0);
  big[0] = 1;
  EXPECT_FALSE(IsHandshakeMessage(big));
  EXPECT_FALSE(IsHandshakeMessage(ByteSpan()));
}

TEST(HandshakeQueueTest, KeepsOrderAndTheAddresses) {
  HandshakeQueue q(16, 50, 10, kKey);
  const IpAddress local = IpAddress::V4(0x7f000001u);
  for (uint8_t i = 0; i < 5; ++i) {
    auto m = Message(i);
    m.resize(64 + i);
    ASSERT_TRUE(q.TryPush(m, Source(i),
                          i % 2 ? std::optional(local) : std::nullopt, kT0));
  }
  EXPECT_EQ(q.size(), 5u);
  std::vector<HandshakeMessage> out(3);
  ASSERT_EQ(q.PopBatch(out), 3u);
  ASSERT_EQ(q.PopBatch(out), 2u);  // the rest, into the first slots
  EXPECT_EQ(out[0].data()[4], 3);
  EXPECT_EQ(out[0].len, 67u);
  EXPECT_EQ(out[0].from, Source(3));
  EXPECT_EQ(out[0].local, local);
  EXPECT_EQ(out[1].data()[4], 4);
  EXPECT_EQ(out[1].local, std::nullopt);
  EXPECT_EQ(q.size(), 0u);
}

TEST(HandshakeQueueTest, IsBoundedAndCountsWhatItDropsWhenFull) {
  HandshakeQueue q(4, 1'000'000, 1'000'000,
                   kKey);  // the shedder lets all through
  for (uint8_t i = 0; i < 10; ++i) {
    EXPECT_EQ(q.TryPush(Message(i), Source(i), std::nullopt, kT0), i < 4)
        << int(i);
  }
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(q.dropped_full(), 6u);
  EXPECT_EQ(q.shed(), 0u);
  std::vector<HandshakeMessage> out(8);
  ASSERT_EQ(q.PopBatch(out), 4u);
  for (uint8_t i = 0; i < 4; ++i)
    EXPECT_EQ(out[i].data()[4], i);  // the first four
  // Room again, and the ring wraps.
  for (uint8_t i = 10; i < 13; ++i)
    EXPECT_TRUE(q.TryPush(Message(i), Source(1), std::nullopt, kT0));
  ASSERT_EQ(q.PopBatch(out), 3u);
  EXPECT_EQ(out[2].data()[4], 12);
}

TEST(HandshakeQueueTest, RefusesMessagesLongerThanAnInitiation) {
  HandshakeQueue q(4, 50, 10, kKey);
  std::vector<uint8_t> big(149, 1);
  EXPECT_FALSE(q.TryPush(big, Source(1), std::nullopt, kT0));
  EXPECT_EQ(q.size(), 0u);
}

// A spoofed flood from one source does not delay that source's messages
// while the queue is at most half full.
TEST(HandshakeQueueTest, ShedsNothingUpToHalfFull) {
  HandshakeQueue q(100, 1, 1, kKey);  // one message a second per source
  for (int i = 0; i < 51; ++i) {
    EXPECT_TRUE(q.TryPush(Message(1), Source(7), std::nullopt, kT0)) << i;
  }
  EXPECT_EQ(q.shed(), 0u);
}

TEST(HandshakeQueueTest, AboveHalfFullShedsASourceOverItsRateButNotOthers) {
  HandshakeQueue q(100, 1, 1, kKey);
  for (int i = 0; i < 51; ++i)
    ASSERT_TRUE(q.TryPush(Message(1), Source(7), std::nullopt, kT0));
  // More than half full: source 7 has its burst of one, then is shed.
  EXPECT_TRUE(q.TryPush(Message(1), Source(7), std::nullopt, kT0));
  EXPECT_FALSE(q.TryPush(Message(1), Source(7), std::nullopt, kT0));
  EXPECT_FALSE(q.TryPush(Message(1), Source(7), std::nullopt, kT0));
  EXPECT_EQ(q.shed(), 2u);
  // Another source (in another bucket) still gets in; source 7 a second later.
  ASSERT_NE(wg::FloodShedder(1, 1, kKey).BucketOf(Source(8).address()),
            wg::FloodShedder(1, 1, kKey).BucketOf(Source(7).address()));
  EXPECT_TRUE(q.TryPush(Message(2), Source(8), std::nullopt, kT0));
  EXPECT_TRUE(q.TryPush(Message(1), Source(7), std::nullopt,
                        kT0 + std::chrono::seconds(1)));
  EXPECT_EQ(q.size(), 54u);
}

TEST(HandshakeQueueTest, PopBatchWaitsForAPushAndItsNotify) {
  HandshakeQueue q(8, 50, 10, kKey);
  std::vector<HandshakeMessage> out(4);
  auto popped = std::async(std::launch::async, [&] { return q.PopBatch(out); });
  EXPECT_EQ(popped.wait_for(std::chrono::milliseconds(50)),
            std::future_status::timeout);
  ASSERT_TRUE(q.TryPush(Message(9), Source(1), std::nullopt, kT0));
  q.Notify();
  ASSERT_EQ(popped.wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  EXPECT_EQ(popped.get(), 1u);
  EXPECT_EQ(out[0].data()[4], 9);
}

TEST(HandshakeQueueTest, StopEndsAWaitingPopBatchAndRefusesPushes) {
  HandshakeQueue q(8, 50, 10, kKey);
  std::vector<HandshakeMessage> out(4);
  auto popped = std::async(std::launch::async, [&] { return q.PopBatch(out); });
  q.Stop();
  ASSERT_EQ(popped.wait_for(std::chrono::seconds(5)),
            std::future_status::ready);
  EXPECT_EQ(popped.get(), 0u);
  EXPECT_FALSE(q.TryPush(Message(1), Source(1), std::nullopt, kT0));
  EXPECT_EQ(q.PopBatch(out), 0u);
}

// Two consumers: each takes its share of what is queued, so a burst is
// spread over both.
TEST(HandshakeQueueTest, EachOfTwoConsumersTakesItsShare) {
  HandshakeQueue q(64, 1'000'000, 1'000'000, kKey, /*consumers=*/2);
  for (uint8_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(q.TryPush(Message(i), Source(1), std::nullopt, kT0));
  }
  std::vector<HandshakeMessage> out(64);
  EXPECT_EQ(q.PopBatch(out), 5u);
  EXPECT_EQ(out[0].data()[4], 0);
  EXPECT_EQ(q.PopBatch(out), 3u);  // half of 5, rounded up
  EXPECT_EQ(out[0].data()[4], 5);
  EXPECT_EQ(q.PopBatch(out), 1u);
  EXPECT_EQ(q.PopBatch(out), 1u);
  EXPECT_EQ(out[0].data()[4], 9);
  EXPECT_EQ(q.size(), 0u);
}

// A producer pushes numbered messages as fast as the queue takes them; two
// consumers pop concurrently. Every message is handled exactly once, each
// consumer sees its messages in order, and the queue never holds more than
// its capacity.
TEST(HandshakeQueueTest, TwoConsumersHandleEveryMessageExactlyOnce) {
  constexpr size_t kCapacity = 32;
  constexpr uint32_t kMessages = 20'000;
  HandshakeQueue q(kCapacity, 1'000'000'000, UINT32_MAX, kKey, /*consumers=*/2);
  std::vector<uint32_t> got[2];
  std::atomic<uint32_t> consumed{0};
  auto consume = [&](std::vector<uint32_t>& mine) {
    std::vector<HandshakeMessage> out(16);
    for (;;) {
      const size_t n = q.PopBatch(out);
      if (n == 0) return;
      for (size_t i = 0; i < n; ++i) mine.push_back(LoadLe32(&out[i].bytes[4]));
      consumed.fetch_add(uint32_t(n));
    }
  };
  std::thread c0(consume, std::ref(got[0]));
  std::thread c1(consume, std::ref(got[1]));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  size_t largest = 0;
  bool in_time = true;
  for (uint32_t id = 0; id < kMessages && in_time; ++id) {
    auto m = Message(0);
    StoreLe32(&m[4], id);
    // Full: dropped and counted; offered again until there is room.
    while (!q.TryPush(m, Source(uint8_t(id)), std::nullopt, kT0)) {
      q.Notify();
      std::this_thread::yield();
      if (std::chrono::steady_clock::now() > deadline) {
        in_time = false;
        break;
      }
    }
    q.Notify();
    largest = std::max(largest, q.size());
  }
  while (in_time && consumed.load() < kMessages) {
    if (std::chrono::steady_clock::now() > deadline) in_time = false;
    std::this_thread::yield();
  }
  q.Stop();
  c0.join();
  c1.join();
  ASSERT_TRUE(in_time) << "consumed " << consumed.load();
  EXPECT_LE(largest, kCapacity);
  EXPECT_EQ(q.shed(), 0u);
  std::vector<int> times(kMessages, 0);
  for (const auto& mine : got) {
    EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
    for (uint32_t id : mine) {
      ASSERT_LT(id, kMessages);
      ++times[id];
    }
  }
  for (uint32_t id = 0; id < kMessages; ++id) ASSERT_EQ(times[id], 1) << id;
}

TEST(HandshakeQueueTest, StopEndsEveryWaitingConsumer) {
  HandshakeQueue q(8, 50, 10, kKey, /*consumers=*/2);
  std::vector<HandshakeMessage> out0(4), out1(4);
  auto p0 = std::async(std::launch::async, [&] { return q.PopBatch(out0); });
  auto p1 = std::async(std::launch::async, [&] { return q.PopBatch(out1); });
  q.Stop();
  ASSERT_EQ(p0.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  ASSERT_EQ(p1.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(p0.get(), 0u);
  EXPECT_EQ(p1.get(), 0u);
}

}  // namespace
}  // namespace zl::device
