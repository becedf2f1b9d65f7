#include "net/wintun_session_win.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <vector>

#include "net/wintun_adapter_win.h"
#include "wintun_double/wintun_double_fixture.h"

namespace zl::net {
namespace {

using std::chrono::milliseconds;
using Bytes = std::vector<uint8_t>;
using testing::ReadyWithin;

constexpr wchar_t kName[] = L"zl-test0";

// A packet whose bytes say which one it is.
Bytes MakePacket(size_t size, uint8_t tag) {
  Bytes p(size);
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(tag + i);
  p[0] = 0x45;
  return p;
}

// Collects received packets; `done` is set once `expected` have arrived.
class Collector {
 public:
  explicit Collector(size_t expected) : expected_(expected), done_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  ~Collector() { CloseHandle(done_); }
  WintunSession::PacketSink Sink() {
    return [this](ByteSpan p) {
      std::lock_guard<std::mutex> lock(mu_);
      packets_.emplace_back(p.begin(), p.end());
      if (packets_.size() == expected_) SetEvent(done_);
    };
  }
  bool WaitAll(milliseconds limit) { return WaitForSingleObject(done_, static_cast<DWORD>(limit.count())) == WAIT_OBJECT_0; }
  std::vector<Bytes> packets() {
    std::lock_guard<std::mutex> lock(mu_);
    return packets_;
  }

 private:
  size_t expected_;
  HANDLE done_;
  std::mutex mu_;
  std::vector<Bytes> packets_;
};

class WintunSessionTest : public testing::WintunDoubleTest {
 protected:
  void Open(uint32_t capacity = kWintunRingCapacity) {
    WintunAdapterOptions options;
    options.ring_capacity = capacity;
    auto adapter = WintunAdapter::Open(api_, "zl-test0", options);
    ASSERT_TRUE(adapter.ok()) << adapter.error().message();
    adapter_ = std::move(*adapter);
  }
  WintunSession& session() { return adapter_->session(); }
  void Inject(const Bytes& p) {
    ASSERT_EQ(double_.InjectReceive(kName, p.data(), static_cast<DWORD>(p.size())), static_cast<DWORD>(ERROR_SUCCESS));
  }
  std::future<Result<void>> RunLoop(const WintunSession::PacketSink& sink) {
    return std::async(std::launch::async, [this, sink] { return session().RunReceiveLoop(sink); });
  }
  // Stops a loop a failed assertion left running, so the test ends.
  void StopLoop(std::future<Result<void>>& loop) {
    session().Quit();
    if (loop.valid()) loop.wait_for(std::chrono::seconds(5));
  }
  void TearDown() override {
    adapter_.reset();
    WintunDoubleTest::TearDown();
  }

  std::unique_ptr<WintunAdapter> adapter_;
};

TEST_F(WintunSessionTest, DrainTakesEveryAvailablePacketInOrderWithItsBytes) {
  Open();
  std::vector<Bytes> sent = {MakePacket(20, 1), MakePacket(1500, 2), MakePacket(65535, 3), MakePacket(1, 4)};
  for (const Bytes& p : sent) Inject(p);
  Collector got(sent.size());
  auto n = session().DrainReceived(got.Sink());
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, sent.size());
  EXPECT_EQ(got.packets(), sent);
  EXPECT_EQ(session().counters().received, sent.size());
  auto again = session().DrainReceived(got.Sink());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
}

TEST_F(WintunSessionTest, DrainIntoFillsSlotsAndSaysWhetherTheRingIsEmpty) {
  Open();
  const std::vector<Bytes> sent = {MakePacket(20, 1), MakePacket(300, 2), MakePacket(64, 3)};
  for (const Bytes& p : sent) Inject(p);
  std::vector<Bytes> bufs(2, Bytes(100));
  std::vector<TunPacket> slots = {{MutableByteSpan(bufs[0])}, {MutableByteSpan(bufs[1])}};
  auto full = session().DrainInto(slots);
  ASSERT_TRUE(full.ok()) << full.error().message();
  EXPECT_EQ(full->count, 2u);
  EXPECT_FALSE(full->ring_empty);  // stopped with every slot filled
  EXPECT_EQ(Bytes(bufs[0].begin(), bufs[0].begin() + slots[0].len), sent[0]);
  EXPECT_EQ(slots[1].len, 100u);  // 300 bytes, truncated to the slot
  EXPECT_EQ(bufs[1], Bytes(sent[1].begin(), sent[1].begin() + 100));
  auto rest = session().DrainInto(slots);
  ASSERT_TRUE(rest.ok()) << rest.error().message();
  EXPECT_EQ(rest->count, 1u);
  EXPECT_TRUE(rest->ring_empty);
  EXPECT_EQ(Bytes(bufs[0].begin(), bufs[0].begin() + slots[0].len), sent[2]);
  EXPECT_EQ(session().counters().received, 3u);
  EXPECT_EQ(session().counters().received_truncated, 1u);
}

TEST_F(WintunSessionTest, ReleasedPacketsFreeTheReceiveRing) {
  Open(kWintunMinRingCapacity);
  // 128 KiB holds 87 packets of 1500 bytes (1504 each in the ring); receiving
  // releases them, so ten ring-fulls pass through.
  const Bytes p = MakePacket(1500, 9);
  size_t total = 0;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 87; ++i) Inject(p);
    EXPECT_EQ(double_.InjectReceive(kName, p.data(), 1500), static_cast<DWORD>(ERROR_BUFFER_OVERFLOW));
    auto n = session().DrainReceived([](ByteSpan) {});
    ASSERT_TRUE(n.ok());
    total += *n;
  }
  EXPECT_EQ(total, 870u);
}

TEST_F(WintunSessionTest, LoopDeliversPacketsThatArriveWhileItWaits) {
  Open();
  Inject(MakePacket(60, 0));  // before the loop starts
  Collector got(4);
  auto loop = RunLoop(got.Sink());
  std::vector<Bytes> sent = {MakePacket(60, 0)};
  for (uint8_t tag = 1; tag < 4; ++tag) {
    sent.push_back(MakePacket(100 + tag, tag));
    Inject(sent.back());
  }
  const bool all = got.WaitAll(milliseconds(2000));
  StopLoop(loop);
  ASSERT_TRUE(all) << "received " << got.packets().size() << " of 4";
  EXPECT_EQ(got.packets(), sent);
  ASSERT_TRUE(ReadyWithin(loop, milliseconds(0)));
  EXPECT_TRUE(loop.get().ok());
}

TEST_F(WintunSessionTest, QuitFromAnotherThreadEndsTheLoopPromptly) {
  Open();
  auto loop = RunLoop([](ByteSpan) {});
  EXPECT_FALSE(ReadyWithin(loop, milliseconds(50)));  // it waits
  const auto start = std::chrono::steady_clock::now();
  session().Quit();
  const bool ended = ReadyWithin(loop, milliseconds(1000));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(ended) << "the loop did not end within 1 s of Quit()";
  EXPECT_LT(took, milliseconds(1000));
  EXPECT_TRUE(loop.get().ok());
}

TEST_F(WintunSessionTest, AdapterRemovalEndsTheLoopWithAClearError) {
  Open();
  auto loop = RunLoop([](ByteSpan) {});
  ASSERT_EQ(double_.RemoveAdapter(kName), static_cast<DWORD>(ERROR_SUCCESS));
  const bool ended = ReadyWithin(loop, milliseconds(2000));
  if (!ended) StopLoop(loop);
  ASSERT_TRUE(ended) << "removal did not end the loop";
  Result<void> r = loop.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENODEV);
  EXPECT_NE(r.error().message().find("removed"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("ERROR_HANDLE_EOF"), std::string::npos) << r.error().message();
  // Sending after removal says the same.
  auto s = session().Send(MakePacket(40, 1));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ENODEV);
}

TEST_F(WintunSessionTest, SentPacketsLandOnTheSendRingInOrder) {
  Open();
  std::vector<Bytes> sent = {MakePacket(40, 1), MakePacket(1280, 2), MakePacket(65535, 3)};
  for (const Bytes& p : sent) {
    auto r = session().Send(p);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, WintunSession::SendOutcome::kSent);
  }
  Bytes buf(65535);
  for (const Bytes& want : sent) {
    DWORD size = 0;
    ASSERT_EQ(double_.TakeSent(kName, buf.data(), static_cast<DWORD>(buf.size()), &size),
              static_cast<DWORD>(ERROR_SUCCESS));
    EXPECT_EQ(Bytes(buf.begin(), buf.begin() + size), want);
  }
  DWORD size = 0;
  EXPECT_EQ(double_.TakeSent(kName, buf.data(), static_cast<DWORD>(buf.size()), &size),
            static_cast<DWORD>(ERROR_NO_MORE_ITEMS));
  EXPECT_EQ(session().counters().sent, 3u);
}

TEST_F(WintunSessionTest, AFullSendRingDropsAndCountsWithoutBlocking) {
  Open(kWintunMinRingCapacity);
  const Bytes p = MakePacket(1500, 7);
  // 87 packets of 1500 bytes (1504 in the ring) fit in 128 KiB; the rest drop.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(session().Send(p).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  WintunSessionCounters c = session().counters();
  EXPECT_EQ(c.sent, 87u);
  EXPECT_EQ(c.send_dropped_ring_full, 13u);
  auto r = session().Send(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, WintunSession::SendOutcome::kDroppedRingFull);
  // Once the adapter takes one, there is room again.
  Bytes buf(2000);
  DWORD size = 0;
  ASSERT_EQ(double_.TakeSent(kName, buf.data(), static_cast<DWORD>(buf.size()), &size),
            static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_EQ(*session().Send(p), WintunSession::SendOutcome::kSent);
}

TEST_F(WintunSessionTest, RefusesEmptyAndOversizedPackets) {
  Open();
  EXPECT_EQ(session().Send(ByteSpan()).error().code(), EINVAL);
  EXPECT_EQ(session().Send(Bytes(65536, 0x45)).error().code(), EINVAL);
}

TEST_F(WintunSessionTest, SendsFromAnotherThreadWhileTheLoopReceives) {
  Open();
  Collector got(50);
  auto loop = RunLoop(got.Sink());
  auto sender = std::async(std::launch::async, [this] {
    for (uint8_t i = 0; i < 50; ++i) {
      if (!session().Send(MakePacket(64, i)).ok()) return false;
    }
    return true;
  });
  for (uint8_t i = 0; i < 50; ++i) Inject(MakePacket(64, i));
  const bool all = got.WaitAll(milliseconds(2000));
  const bool sent = ReadyWithin(sender, milliseconds(2000)) && sender.get();
  StopLoop(loop);
  EXPECT_TRUE(all);
  EXPECT_TRUE(sent);
  EXPECT_EQ(session().counters().sent, 50u);
  EXPECT_EQ(session().counters().received, 50u);
}

}  // namespace
}  // namespace zl::net
