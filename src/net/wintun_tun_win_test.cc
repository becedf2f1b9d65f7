#include "net/wintun_tun_win.h"

#include <gtest/gtest.h>
#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "wintun_double/wintun_double_fixture.h"

namespace zl::net {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr wchar_t kName[] = L"zl-test0";
constexpr DWORD kWaitMs = 2000;  // bound of every wait for the double's tap

// An IP packet (version nibble `version`) whose bytes say which one it is.
Bytes MakePacket(size_t size, uint8_t tag, int version = 4) {
  Bytes p(size);
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(tag + i);
  p[0] = static_cast<uint8_t>(version << 4 | 5);
  return p;
}

// `count` slots of `size` bytes each.
class Batch {
 public:
  Batch(size_t count, size_t size) : storage_(count, Bytes(size)), slots_(count) {
    for (size_t i = 0; i < count; ++i) slots_[i].buf = MutableByteSpan(storage_[i]);
  }
  std::span<TunPacket> slots() { return slots_; }
  Bytes Packet(size_t i) const { return Bytes(storage_[i].begin(), storage_[i].begin() + slots_[i].len); }

 private:
  std::vector<Bytes> storage_;
  std::vector<TunPacket> slots_;
};

bool Signalled(Waitable w) { return WaitForSingleObject(w, 0) == WAIT_OBJECT_0; }

class WintunTunTest : public testing::WintunDoubleTest {
 protected:
  void Open(uint32_t capacity = kWintunRingCapacity) {
    WintunAdapterOptions options;
    options.ring_capacity = capacity;
    auto tun = WintunTun::Open(api_, "zl-test0", kDefaultTunMtu, options);
    ASSERT_TRUE(tun.ok()) << tun.error().message();
    tun_ = std::move(*tun);
  }
  void Inject(const Bytes& p) {
    ASSERT_EQ(double_.InjectReceive(kName, p.data(), static_cast<DWORD>(p.size())), static_cast<DWORD>(ERROR_SUCCESS));
  }
  // The oldest packet on the send ring, if any.
  std::optional<Bytes> TakeSent() {
    Bytes buf(65535);
    DWORD size = 0;
    if (double_.TakeSent(kName, buf.data(), static_cast<DWORD>(buf.size()), &size) != ERROR_SUCCESS) {
      return std::nullopt;
    }
    buf.resize(size);
    return buf;
  }
  void TearDown() override {
    tun_.reset();
    WintunDoubleTest::TearDown();
  }

  std::unique_ptr<WintunTun> tun_;
};

TEST_F(WintunTunTest, ReadBatchReturnsInjectedPacketsInOrderWithTheirLengths) {
  Open();
  const std::vector<Bytes> sent = {MakePacket(20, 1), MakePacket(1420, 2, 6), MakePacket(1, 3)};
  for (const Bytes& p : sent) Inject(p);
  Batch batch(8, 1500);
  auto n = tun_->ReadBatch(batch.slots());
  ASSERT_TRUE(n.ok()) << n.error().message();
  ASSERT_EQ(*n, sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(batch.slots()[i].len, sent[i].size()) << i;
    EXPECT_EQ(batch.Packet(i), sent[i]) << i;
  }
  EXPECT_EQ(tun_->counters().received, sent.size());
}

TEST_F(WintunTunTest, ReadBatchReturnsZeroWhenNothingWaits) {
  Open();
  Batch batch(4, 1500);
  auto n = tun_->ReadBatch(batch.slots());
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 0u);
  EXPECT_FALSE(Signalled(tun_->waitable()));
}

TEST_F(WintunTunTest, AFullBatchWithMorePendingLeavesTheEventSignalled) {
  Open();
  for (uint8_t i = 0; i < 5; ++i) Inject(MakePacket(60, i));
  // The loop's wait takes the auto-reset event, as WaitForMultipleObjects does.
  ASSERT_TRUE(Signalled(tun_->waitable()));
  Batch batch(3, 1500);
  ASSERT_EQ(*tun_->ReadBatch(batch.slots()), 3u);
  EXPECT_TRUE(Signalled(tun_->waitable())) << "two packets wait, but the loop would not come back";
  ASSERT_EQ(*tun_->ReadBatch(batch.slots()), 2u);
  EXPECT_EQ(batch.Packet(1), MakePacket(60, 4));
  EXPECT_FALSE(Signalled(tun_->waitable())) << "the ring is empty, but the loop would spin";
}

TEST_F(WintunTunTest, AnEventDrivenReaderGetsEveryPacketAndThenSleeps) {
  Open();
  for (uint8_t i = 0; i < 10; ++i) Inject(MakePacket(100, i));
  Batch batch(4, 1500);
  std::vector<Bytes> got;
  // As the event loop: read only while the event says so (bounded).
  for (int wakeups = 0; wakeups < 20 && Signalled(tun_->waitable()); ++wakeups) {
    auto n = tun_->ReadBatch(batch.slots());
    ASSERT_TRUE(n.ok()) << n.error().message();
    for (size_t i = 0; i < *n; ++i) got.push_back(batch.Packet(i));
  }
  ASSERT_EQ(got.size(), 10u);
  for (uint8_t i = 0; i < 10; ++i) EXPECT_EQ(got[i], MakePacket(100, i)) << int{i};
  EXPECT_FALSE(Signalled(tun_->waitable()));
}

TEST_F(WintunTunTest, APacketLongerThanItsSlotIsTruncatedAndCounted) {
  Open();
  const Bytes big = MakePacket(2000, 7);
  Inject(big);
  Inject(MakePacket(40, 8));
  Batch batch(2, 1500);
  ASSERT_EQ(*tun_->ReadBatch(batch.slots()), 2u);
  EXPECT_EQ(batch.slots()[0].len, 1500u);
  EXPECT_EQ(batch.Packet(0), Bytes(big.begin(), big.begin() + 1500));
  EXPECT_EQ(batch.Packet(1), MakePacket(40, 8));
  EXPECT_EQ(tun_->counters().received_truncated, 1u);
}

TEST_F(WintunTunTest, WriteLandsOnTheSendRing) {
  Open();
  const std::vector<Bytes> sent = {MakePacket(40, 1), MakePacket(1280, 2, 6)};
  for (const Bytes& p : sent) {
    auto r = tun_->Write(p);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  for (const Bytes& want : sent) EXPECT_EQ(TakeSent(), want);
  EXPECT_EQ(TakeSent(), std::nullopt);
  EXPECT_EQ(tun_->counters().sent, 2u);
}

TEST_F(WintunTunTest, AFullSendRingDropsAndCountsWithoutBlocking) {
  Open(kWintunMinRingCapacity);
  const Bytes p = MakePacket(1500, 7);
  // 87 packets of 1500 bytes (1504 in the ring) fit in 128 KiB; the rest drop.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    auto r = tun_->Write(p);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(tun_->counters().sent, 87u);
  EXPECT_EQ(tun_->counters().send_dropped_ring_full, 13u);
}

TEST_F(WintunTunTest, WriteRefusesWhatIsNotAnIpPacket) {
  Open();
  for (const Bytes& p : {Bytes{}, Bytes{0x00, 0x01}, Bytes(40, 0x55), Bytes(40, 0xF0)}) {
    auto r = tun_->Write(p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), EINVAL);
  }
  EXPECT_EQ(TakeSent(), std::nullopt);
  EXPECT_EQ(tun_->counters().sent, 0u);
}

TEST_F(WintunTunTest, AdapterRemovalMakesReadAndWriteFailWithTunGone) {
  Open();
  Inject(MakePacket(60, 1));
  ASSERT_EQ(double_.RemoveAdapter(kName), static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_TRUE(Signalled(tun_->waitable())) << "removal must wake the loop";
  Batch batch(4, 1500);
  auto n = tun_->ReadBatch(batch.slots());
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(IsTunGone(n.error())) << n.error().message();
  EXPECT_NE(n.error().message().find("zl-test0"), std::string::npos) << n.error().message();
  auto w = tun_->Write(MakePacket(60, 2));
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(IsTunGone(w.error())) << w.error().message();
}

// A ReceivePacket that hands out `packets_before_eof` packets, then reports
// the adapter gone: the error after some packets of a batch.
struct EofAfter {
  static inline decltype(WintunApi::ReceivePacket) real = nullptr;
  static inline int packets_before_eof = 0;
  static BYTE* WINAPI ReceivePacket(WintunSessionHandle session, DWORD* size) {
    if (packets_before_eof-- <= 0) {
      SetLastError(ERROR_HANDLE_EOF);
      return nullptr;
    }
    return real(session, size);
  }
};

TEST_F(WintunTunTest, AnErrorAfterSomePacketsComesOnTheNextReadAndWakesTheLoop) {
  WintunApi api = api_;
  EofAfter::real = api_.ReceivePacket;
  EofAfter::packets_before_eof = 2;
  api.ReceivePacket = &EofAfter::ReceivePacket;
  auto tun = WintunTun::Open(api, "zl-test0");
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  for (uint8_t i = 0; i < 3; ++i) Inject(MakePacket(60, i));
  ASSERT_TRUE(Signalled((*tun)->waitable()));
  Batch batch(8, 1500);
  auto n = (*tun)->ReadBatch(batch.slots());
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 2u);
  EXPECT_TRUE(Signalled((*tun)->waitable())) << "the loop must come back for the error";
  auto again = (*tun)->ReadBatch(batch.slots());
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(IsTunGone(again.error())) << again.error().message();
}

TEST_F(WintunTunTest, ReportsNameMtuLuidAndNoIndex) {
  auto tun = CreateWintunTun(api_, "zl-test0", 1280);
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  TunDevice& dev = **tun;
  EXPECT_EQ(dev.name(), "zl-test0");
  EXPECT_EQ(dev.index(), 0);
  EXPECT_NE(dev.waitable(), kNoWaitable);
  EXPECT_EQ(*dev.Mtu(), 1280);
  EXPECT_TRUE(dev.SetMtu(1420).ok());
  EXPECT_EQ(*dev.Mtu(), 1420);
  EXPECT_EQ(dev.SetMtu(0).error().code(), EINVAL);
  EXPECT_EQ(dev.SetMtu(65536).error().code(), EINVAL);
  EXPECT_EQ(*dev.Mtu(), 1420);
  EXPECT_TRUE(dev.SetUp().ok());
  auto& wintun = static_cast<WintunTun&>(dev);
  EXPECT_NE(wintun.luid(), 0u);
  EXPECT_TRUE(wintun.created_adapter());
  EXPECT_EQ(CreateWintunTun(api_, "zl-test1", 0).error().code(), EINVAL);
}

TEST_F(WintunTunTest, DestructionEndsTheSessionAndRemovesTheAdapterItCreated) {
  Open();
  EXPECT_EQ(double_.AdapterCount(), 1u);
  tun_.reset();
  EXPECT_EQ(double_.AdapterCount(), 0u);
  // An adapter it only opened stays, with its session ended: another starts.
  WintunAdapterHandle existing = api_.CreateAdapter(kName, L"ZLayer", nullptr);
  ASSERT_NE(existing, nullptr);
  Open();
  EXPECT_FALSE(tun_->created_adapter());
  tun_.reset();
  EXPECT_EQ(double_.AdapterCount(), 1u);
  WintunSessionHandle session = api_.StartSession(existing, kWintunMinRingCapacity);
  EXPECT_NE(session, nullptr) << "the tun's session was not ended";
  if (session != nullptr) api_.EndSession(session);
  api_.CloseAdapter(existing);
}

// --- The double's tap ---------------------------------------------------------

// Sets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const wchar_t* name, const std::wstring& value) : name_(name) {
    SetEnvironmentVariableW(name_, value.c_str());
  }
  ~ScopedEnv() { SetEnvironmentVariableW(name_, nullptr); }

 private:
  const wchar_t* name_;
};

// The test driver's end of the tap: a UDP socket on 127.0.0.1.
class Driver {
 public:
  Driver() {
    WSADATA wsa;
    started_ = WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
    socket_ = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof(local);
    const DWORD timeout = kWaitMs;
    ok_ = started_ && socket_ != INVALID_SOCKET &&
          bind(socket_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) == 0 &&
          getsockname(socket_, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
          setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&timeout), sizeof(timeout)) == 0;
    port_ = ntohs(local.sin_port);
  }
  ~Driver() {
    if (socket_ != INVALID_SOCKET) closesocket(socket_);
    if (started_) WSACleanup();
  }
  bool ok() const { return ok_; }
  std::wstring Endpoint() const { return L"127.0.0.1:" + std::to_wstring(port_); }
  // The next datagram (within kWaitMs); its sender becomes the tap's address.
  std::optional<Bytes> Receive() {
    Bytes buf(65536);
    sockaddr_in from{};
    int from_len = sizeof(from);
    const int n = recvfrom(socket_, reinterpret_cast<char*>(buf.data()), static_cast<int>(buf.size()), 0,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n == SOCKET_ERROR) return std::nullopt;
    tap_ = from;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  bool SendToTap(const Bytes& p) {
    return sendto(socket_, reinterpret_cast<const char*>(p.data()), static_cast<int>(p.size()), 0,
                  reinterpret_cast<const sockaddr*>(&tap_), sizeof(tap_)) == static_cast<int>(p.size());
  }

 private:
  bool started_ = false;
  bool ok_ = false;
  SOCKET socket_ = INVALID_SOCKET;
  u_short port_ = 0;
  sockaddr_in tap_{};
};

Bytes Text(const char* s) { return Bytes(s, s + std::char_traits<char>::length(s)); }

TEST_F(WintunTunTest, TheTapCarriesPacketsBothWaysBetweenADriverAndTheTun) {
  Driver driver;
  ASSERT_TRUE(driver.ok()) << WSAGetLastError();
  {
    ScopedEnv tap(L"ZL_WINTUN_DOUBLE_TAP", driver.Endpoint());
    Open();
  }
  ASSERT_EQ(driver.Receive(), Text("zl-wintun-double-tap"));

  // Driver -> tun: each datagram is one packet on the receive ring.
  const std::vector<Bytes> in = {MakePacket(84, 1), MakePacket(1420, 2, 6)};
  for (const Bytes& p : in) ASSERT_TRUE(driver.SendToTap(p));
  Batch batch(4, 1500);
  std::vector<Bytes> got;
  for (int wakeups = 0; wakeups < 4 && got.size() < in.size(); ++wakeups) {
    ASSERT_EQ(WaitForSingleObject(tun_->waitable(), kWaitMs), static_cast<DWORD>(WAIT_OBJECT_0))
        << "got " << got.size() << " of " << in.size();
    auto n = tun_->ReadBatch(batch.slots());
    ASSERT_TRUE(n.ok()) << n.error().message();
    for (size_t i = 0; i < *n; ++i) got.push_back(batch.Packet(i));
  }
  EXPECT_EQ(got, in);

  // Tun -> driver: each written packet is one datagram, not kept on the ring.
  const std::vector<Bytes> out = {MakePacket(60, 3), MakePacket(1280, 4, 6)};
  for (const Bytes& p : out) ASSERT_TRUE(tun_->Write(p).ok());
  for (const Bytes& want : out) EXPECT_EQ(driver.Receive(), want);
  EXPECT_EQ(TakeSent(), std::nullopt);
  EXPECT_EQ(tun_->counters().sent, 2u);

  // Ending the session says bye.
  tun_.reset();
  EXPECT_EQ(driver.Receive(), Text("zl-wintun-double-tap-bye"));
}

TEST_F(WintunTunTest, WithoutTheTapVariableNothingIsTapped) {
  Open();
  ASSERT_TRUE(tun_->Write(MakePacket(60, 1)).ok());
  EXPECT_EQ(TakeSent(), MakePacket(60, 1));
}

TEST_F(WintunTunTest, TheTapRefusesAnEndpointThatIsNotLoopbackHostPort) {
  for (const wchar_t* bad : {L"10.0.0.1:5000", L"127.0.0.1:", L"127.0.0.1:0", L"127.0.0.1:65536", L"localhost:80",
                             L"127.0.0.1:80x"}) {
    ScopedEnv tap(L"ZL_WINTUN_DOUBLE_TAP", bad);
    auto tun = WintunTun::Open(api_, "zl-test0");
    ASSERT_FALSE(tun.ok()) << Utf8FromWide(bad);
    EXPECT_EQ(tun.error().code(), EINVAL) << tun.error().message();
  }
}

}  // namespace
}  // namespace zl::net
