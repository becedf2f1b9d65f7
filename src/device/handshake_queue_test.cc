#include "device/handshake_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

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

}  // namespace
}  // namespace zl::device
