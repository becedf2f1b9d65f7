#include "net/winsock_bind_win.h"

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "net/test_util.h"

// What is particular to WinsockBind: its events' level-triggered contract
// (winsock_bind_win.h, waitable.h), fwmark, WSARecvMsg. The Bind contract is
// checked against it in bind_test.cc. Hermetic: loopback only.

namespace zl::net {
namespace {

using testing::Ip;
using testing::OpenUdp;
using testing::SendTo;
using testing::WaitReadable;
using Family = IpAddress::Family;
using std::chrono::milliseconds;

// How long a wait must stay quiet for "not signalled" (wine signals socket
// events from its server, a little after the fact).
constexpr milliseconds kQuiet{200};

std::unique_ptr<WinsockBind> OpenLoopback() {
  auto bind = WinsockBind::Open(0, ListenAddresses::Loopback());
  EXPECT_TRUE(bind.ok()) << bind.error().message();
  return bind.ok() ? std::move(*bind) : nullptr;
}

std::string Payload(const RecvSlot& slot) {
  return std::string(slot.buf.begin(), slot.buf.begin() + static_cast<long>(slot.len));
}

TEST(WinsockBindTest, OpenUdpBindGivesAWinsockBind) {
  auto bind = OpenUdpBind(0, ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok()) << bind.error().message();
  EXPECT_NE(dynamic_cast<WinsockBind*>(bind->get()), nullptr);
}

TEST(WinsockBindTest, EachFamilyHasAnEventOfItsOwnAndReportsLocalAddresses) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  EXPECT_NE(bind->waitable(Family::kV4), kNoWaitable);
  EXPECT_NE(bind->waitable(Family::kV6), kNoWaitable);
  EXPECT_NE(bind->waitable(Family::kV4), bind->waitable(Family::kV6));
  // Wine 8 has WSARecvMsg too, so the fallback without local addresses is
  // never taken here.
  EXPECT_TRUE(bind->reports_local_address());
}

TEST(WinsockBindTest, EventIsUnsignalledWhileNothingWaits) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  for (Family family : {Family::kV4, Family::kV6}) {
    EXPECT_FALSE(WaitReadable(bind->waitable(family), milliseconds(0)));
    std::array<uint8_t, 64> buf;
    RecvSlot slot{buf};
    auto n = bind->Receive(family, std::span(&slot, 1));
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_EQ(*n, 0u);
    EXPECT_FALSE(WaitReadable(bind->waitable(family), kQuiet));
  }
}

// The level-triggered contract of waitable.h: a partial drain leaves the
// event signalled, a full drain leaves it unsignalled, and a datagram that
// comes later signals it again.
TEST(WinsockBindTest, EventStaysSignalledUntilTheSocketIsDrained) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  const Endpoint to(Ip("127.0.0.1"), bind->port());
  constexpr size_t kDatagrams = kMaxBatchSize + 36;  // 100
  constexpr size_t kPerCall = 16;                    // 6 full calls, then 4
  for (size_t i = 0; i < kDatagrams; ++i) ASSERT_TRUE(SendTo(peer->get(), to, std::to_string(i)));

  std::vector<std::array<uint8_t, 64>> storage(kDatagrams + kPerCall);
  std::vector<RecvSlot> slots(storage.size());
  for (size_t i = 0; i < slots.size(); ++i) slots[i].buf = storage[i];
  const Waitable event = bind->waitable(Family::kV4);
  size_t total = 0;
  int calls = 0;
  bool drained = false;
  while (!drained && calls < 100) {
    // Signalled before each call: at first, and after every full one.
    ASSERT_TRUE(WaitReadable(event)) << "after " << total << " datagrams";
    auto n = bind->Receive(Family::kV4, std::span(slots).subspan(total, kPerCall));
    ASSERT_TRUE(n.ok()) << n.error().message();
    ++calls;
    total += *n;
    drained = *n < kPerCall && total == kDatagrams;
  }
  ASSERT_EQ(total, kDatagrams);
  EXPECT_GE(calls, static_cast<int>(kDatagrams / kPerCall) + 1);
  for (size_t i = 0; i < kDatagrams; ++i) EXPECT_EQ(Payload(slots[i]), std::to_string(i));

  // Drained: not signalled, now or a little later.
  EXPECT_FALSE(WaitReadable(event, milliseconds(0)));
  EXPECT_FALSE(WaitReadable(event, kQuiet));
  // A new datagram signals it again.
  ASSERT_TRUE(SendTo(peer->get(), to, "later"));
  EXPECT_TRUE(WaitReadable(event));
}

TEST(WinsockBindTest, EventIsSignalledAgainAfterEachPartialDrain) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("::1"), 0));
  ASSERT_TRUE(peer.ok());
  const Endpoint to(Ip("::1"), bind->port());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(SendTo(peer->get(), to, std::to_string(i)));
  const Waitable event = bind->waitable(Family::kV6);
  // One at a time: after each of the first two, the event is (again) set.
  int received = 0;
  for (int attempt = 0; received < 3 && attempt < 10; ++attempt) {
    ASSERT_TRUE(WaitReadable(event)) << received;
    std::array<uint8_t, 64> buf;
    RecvSlot slot{buf};
    auto n = bind->Receive(Family::kV6, std::span(&slot, 1));
    ASSERT_TRUE(n.ok());
    if (*n == 0) continue;  // the datagram was not in yet: wait again
    EXPECT_EQ(Payload(slot), std::to_string(received));
    ++received;
  }
  ASSERT_EQ(received, 3);
  // A spurious signal after the last one is allowed; one empty Receive
  // clears it.
  std::array<uint8_t, 64> buf;
  RecvSlot slot{buf};
  auto n = bind->Receive(Family::kV6, std::span(&slot, 1));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_FALSE(WaitReadable(event, kQuiet));
}

TEST(WinsockBindTest, FwmarkIsNotSupportedExceptZero) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  EXPECT_TRUE(bind->SetFwmark(0).ok());
  auto r = bind->SetFwmark(1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOTSUP);
  EXPECT_NE(r.error().message().find("fwmark"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace zl::net
