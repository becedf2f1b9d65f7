#include "net/winsock_bind_win.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "net/test_util_win.h"

// Hermetic: everything binds to 127.0.0.1 / ::1 (two tests bind 0.0.0.0 to
// use 127.0.0.2 too), and every datagram stays on loopback.

namespace zl::net {
namespace {

using testing::AsBytes;
using testing::Ip;
using testing::kTestTimeout;
using testing::LocalEndpoint;
using testing::OpenUdp;
using testing::ReceiveAtLeast;
using testing::ReceiveFrom;
using testing::SendTo;
using testing::WaitSignalled;
using Family = IpAddress::Family;
using std::chrono::milliseconds;

// How long a wait must stay quiet for "not signalled" (wine signals socket
// events from its server, a little after the fact).
constexpr milliseconds kQuiet{200};

std::unique_ptr<WinsockBind> OpenLoopback(uint16_t port = 0) {
  auto bind = WinsockBind::Open(port, ListenAddresses::Loopback());
  EXPECT_TRUE(bind.ok()) << bind.error().message();
  return bind.ok() ? std::move(*bind) : nullptr;
}

std::string Payload(const RecvSlot& slot) {
  return std::string(slot.buf.begin(), slot.buf.begin() + static_cast<long>(slot.len));
}

// A port that was free a moment ago in both families.
uint16_t FreePort() {
  auto probe = WinsockBind::Open(0, ListenAddresses::Loopback());
  return probe.ok() ? (*probe)->port() : 0;
}

TEST(WinsockBindTest, PortZeroGivesBothFamiliesTheSamePort) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  EXPECT_NE(bind->port(), 0);
  EXPECT_NE(bind->waitable(Family::kV4), kNoWaitable);
  EXPECT_NE(bind->waitable(Family::kV6), kNoWaitable);
  EXPECT_NE(bind->waitable(Family::kV4), bind->waitable(Family::kV6));
  // Both families hold the port.
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    auto other = OpenUdp(Endpoint(Ip(address), bind->port()));
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.error().code(), EADDRINUSE) << other.error().message();
  }
}

TEST(WinsockBindTest, OpenUdpBindGivesAWinsockBind) {
  auto bind = OpenUdpBind(0, ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok()) << bind.error().message();
  EXPECT_NE(dynamic_cast<WinsockBind*>(bind->get()), nullptr);
  EXPECT_NE((*bind)->port(), 0);
}

TEST(WinsockBindTest, ReceiveReportsSourceAndLocalAddress) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  EXPECT_TRUE(bind->reports_local_address());
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    auto peer = OpenUdp(Endpoint(Ip(address), 0));
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    ASSERT_TRUE(SendTo(*peer, Endpoint(Ip(address), bind->port()), "hello"));
    std::vector<std::array<uint8_t, 2048>> storage;
    auto got = ReceiveAtLeast(*bind, Ip(address).family(), 1, storage);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(Payload(got[0]), "hello");
    EXPECT_EQ(got[0].from, LocalEndpoint(*peer));
    ASSERT_TRUE(got[0].local.has_value());
    EXPECT_EQ(*got[0].local, Ip(address));
  }
}

TEST(WinsockBindTest, ReceiveWithNothingWaitingReturnsZeroAndTheEventIsUnsignalled) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  for (Family family : {Family::kV4, Family::kV6}) {
    EXPECT_FALSE(WaitSignalled(bind->waitable(family), milliseconds(0)));
    std::array<uint8_t, 64> buf;
    RecvSlot slot{buf};
    auto n = bind->Receive(family, std::span(&slot, 1));
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_EQ(*n, 0u);
    EXPECT_FALSE(WaitSignalled(bind->waitable(family), kQuiet));
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
  for (size_t i = 0; i < kDatagrams; ++i) ASSERT_TRUE(SendTo(*peer, to, std::to_string(i)));

  std::vector<std::array<uint8_t, 64>> storage(kDatagrams + kPerCall);
  std::vector<RecvSlot> slots(storage.size());
  for (size_t i = 0; i < slots.size(); ++i) slots[i].buf = storage[i];
  const Waitable event = bind->waitable(Family::kV4);
  size_t total = 0;
  int calls = 0;
  bool drained = false;
  while (!drained && calls < 100) {
    ASSERT_TRUE(WaitSignalled(event)) << "after " << total << " datagrams";
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
  EXPECT_FALSE(WaitSignalled(event, milliseconds(0)));
  EXPECT_FALSE(WaitSignalled(event, kQuiet));
  // A new datagram signals it again.
  ASSERT_TRUE(SendTo(*peer, to, "later"));
  EXPECT_TRUE(WaitSignalled(event));
}

TEST(WinsockBindTest, PartialDrainLeavesTheEventSignalled) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("::1"), 0));
  ASSERT_TRUE(peer.ok());
  const Endpoint to(Ip("::1"), bind->port());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(SendTo(*peer, to, std::to_string(i)));
  const Waitable event = bind->waitable(Family::kV6);
  std::vector<std::array<uint8_t, 2048>> storage;
  // One at a time: after each of the first two, the event is (again) set.
  int received = 0;
  for (int attempt = 0; received < 3 && attempt < 10; ++attempt) {
    ASSERT_TRUE(WaitSignalled(event)) << received;
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
  EXPECT_FALSE(WaitSignalled(event, kQuiet));
}

TEST(WinsockBindTest, ReceiveTruncatesADatagramLongerThanTheSlot) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  const Endpoint to(Ip("127.0.0.1"), bind->port());
  ASSERT_TRUE(SendTo(*peer, to, "0123456789abcdefghij"));
  ASSERT_TRUE(SendTo(*peer, to, "short"));
  std::array<std::array<uint8_t, 10>, 2> bufs;
  std::array<RecvSlot, 2> slots{RecvSlot{bufs[0]}, RecvSlot{bufs[1]}};
  size_t total = 0;
  for (int i = 0; i < 10 && total < 2 && WaitSignalled(bind->waitable(Family::kV4)); ++i) {
    auto n = bind->Receive(Family::kV4, std::span(slots).subspan(total));
    ASSERT_TRUE(n.ok()) << n.error().message();
    total += *n;
  }
  ASSERT_EQ(total, 2u);
  EXPECT_EQ(slots[0].len, 10u);
  EXPECT_EQ(Payload(slots[0]), "0123456789");
  EXPECT_EQ(slots[0].from, LocalEndpoint(*peer));
  EXPECT_EQ(Payload(slots[1]), "short");
}

TEST(WinsockBindTest, ReceiveFromAFamilyThatIsOffFails) {
  ListenAddresses v4_only = ListenAddresses::Loopback();
  v4_only.v6.reset();
  auto bind = WinsockBind::Open(0, v4_only);
  ASSERT_TRUE(bind.ok()) << bind.error().message();
  EXPECT_EQ((*bind)->waitable(Family::kV6), kNoWaitable);
  std::array<uint8_t, 64> buf;
  RecvSlot slot{buf};
  auto n = (*bind)->Receive(Family::kV6, std::span(&slot, 1));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), EAFNOSUPPORT);
}

TEST(WinsockBindTest, SendBatchOfMixedFamiliesArrivesInOrder) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer4 = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  auto peer6 = OpenUdp(Endpoint(Ip("::1"), 0));
  ASSERT_TRUE(peer4.ok() && peer6.ok());
  constexpr int kItems = 40;
  std::vector<std::string> payloads;
  for (int i = 0; i < kItems; ++i) payloads.push_back("datagram " + std::to_string(i));
  std::vector<SendItem> items;
  for (int i = 0; i < kItems; ++i) {
    const Endpoint to = LocalEndpoint(i % 3 == 0 ? *peer6 : *peer4);
    items.push_back(SendItem{to, AsBytes(payloads[i]), std::nullopt});
  }
  auto sent = bind->Send(items);
  ASSERT_TRUE(sent.ok()) << sent.error().message();
  EXPECT_EQ(*sent, items.size());
  for (int i = 0; i < kItems; ++i) {
    const bool v6 = i % 3 == 0;
    auto got = ReceiveFrom(v6 ? *peer6 : *peer4);
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_EQ(got->payload, payloads[i]);
    EXPECT_EQ(got->from, Endpoint(Ip(v6 ? "::1" : "127.0.0.1"), bind->port()));
  }
}

// 127.0.0.2 is a local address too (all of 127/8 is loopback), so a bind on
// 0.0.0.0 can both receive on it and send from it.
std::unique_ptr<WinsockBind> OpenAnyV4() {
  ListenAddresses any_v4;
  any_v4.v4 = Ip("0.0.0.0");
  auto bind = WinsockBind::Open(0, any_v4);
  EXPECT_TRUE(bind.ok()) << bind.error().message();
  return bind.ok() ? std::move(*bind) : nullptr;
}

TEST(WinsockBindTest, ReceiveOnAWildcardBindReportsTheAddressSentTo) {
  auto bind = OpenAnyV4();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  for (const char* local : {"127.0.0.2", "127.0.0.1"}) {
    SCOPED_TRACE(local);
    ASSERT_TRUE(SendTo(*peer, Endpoint(Ip(local), bind->port()), local));
    std::vector<std::array<uint8_t, 2048>> storage;
    auto got = ReceiveAtLeast(*bind, Family::kV4, 1, storage);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(Payload(got[0]), local);
    ASSERT_TRUE(got[0].local.has_value());
    EXPECT_EQ(*got[0].local, Ip(local));
  }
}

TEST(WinsockBindTest, SendHonoursTheSourceAddress) {
  if (testing::RunningUnderWine()) {
    GTEST_SKIP() << "wine 8's WSASendMsg ignores control messages (IP_PKTINFO)";
  }
  auto bind = OpenAnyV4();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  for (const char* source : {"127.0.0.2", "127.0.0.1"}) {
    SCOPED_TRACE(source);
    const std::string p = std::string("from ") + source;
    SendItem item{LocalEndpoint(*peer), AsBytes(p), Ip(source)};
    auto sent = bind->Send(std::span(&item, 1));
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    EXPECT_EQ(*sent, 1u);
    auto reply = ReceiveFrom(*peer);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->payload, p);
    EXPECT_EQ(reply->from, Endpoint(Ip(source), bind->port()));
  }
}

TEST(WinsockBindTest, SourceThatIsNotLocalFallsBackToRouting) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    auto peer = OpenUdp(Endpoint(Ip(address), 0));
    ASSERT_TRUE(peer.ok());
    const std::string p = "stale source";
    // TEST-NET-1 / the documentation prefix: not addresses of this host.
    SendItem item{LocalEndpoint(*peer), AsBytes(p),
                  Ip(Ip(address).is_v4() ? "192.0.2.1" : "2001:db8::1")};
    auto sent = bind->Send(std::span(&item, 1));
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    EXPECT_EQ(*sent, 1u);
    auto got = ReceiveFrom(*peer);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->payload, p);
    EXPECT_EQ(got->from, Endpoint(Ip(address), bind->port()));
  }
}

TEST(WinsockBindTest, SendToAFamilyThatIsOffFails) {
  ListenAddresses v4_only = ListenAddresses::Loopback();
  v4_only.v6.reset();
  auto bind = WinsockBind::Open(0, v4_only);
  ASSERT_TRUE(bind.ok());
  const uint8_t byte = 0;
  SendItem item{Endpoint(Ip("::1"), 9), ByteSpan(&byte, 1), std::nullopt};
  auto sent = (*bind)->Send(std::span(&item, 1));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().code(), EAFNOSUPPORT);
}

// An item that cannot be sent is an error only as items[0]; after good items
// the call stops short of it, and the next call reports it.
TEST(WinsockBindTest, AnItemThatCannotBeSentFailsOnlyAsTheFirst) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  const std::string small = "fits";
  const std::string huge(70000, 'x');  // longer than any UDP datagram
  const Endpoint to = LocalEndpoint(*peer);
  std::vector<SendItem> items{{to, AsBytes(small), std::nullopt},
                              {to, AsBytes(huge), std::nullopt},
                              {to, AsBytes(small), std::nullopt}};
  auto first = bind->Send(items);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(*first, 1u);
  auto second = bind->Send(std::span(items).subspan(1));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EMSGSIZE) << second.error().message();
  auto third = bind->Send(std::span(items).subspan(2));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, 1u);
  for (int i = 0; i < 2; ++i) {
    auto got = ReceiveFrom(*peer);
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_EQ(got->payload, small);
  }
}

TEST(WinsockBindTest, RebindMovesToANewPort) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  const uint16_t old_port = bind->port();
  ASSERT_TRUE(bind->Rebind(0).ok());
  EXPECT_NE(bind->port(), old_port);
  // The old port is free again, and the new one receives.
  EXPECT_TRUE(OpenUdp(Endpoint(Ip("127.0.0.1"), old_port)).ok());
  EXPECT_TRUE(OpenUdp(Endpoint(Ip("::1"), old_port)).ok());
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  ASSERT_TRUE(SendTo(*peer, Endpoint(Ip("127.0.0.1"), bind->port()), "after rebind"));
  std::vector<std::array<uint8_t, 2048>> storage;
  auto got = ReceiveAtLeast(*bind, Family::kV4, 1, storage);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Payload(got[0]), "after rebind");
}

TEST(WinsockBindTest, RebindToAGivenPortMovesThere) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  const uint16_t port = FreePort();
  ASSERT_NE(port, 0);
  auto r = bind->Rebind(port);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(bind->port(), port);
  auto peer = OpenUdp(Endpoint(Ip("::1"), 0));
  ASSERT_TRUE(peer.ok());
  ASSERT_TRUE(SendTo(*peer, Endpoint(Ip("::1"), port), "given port"));
  std::vector<std::array<uint8_t, 2048>> storage;
  EXPECT_EQ(ReceiveAtLeast(*bind, Family::kV6, 1, storage).size(), 1u);
}

TEST(WinsockBindTest, RebindToTheCurrentPortIsANoOp) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  const Waitable v4 = bind->waitable(Family::kV4);
  const uint16_t port = bind->port();
  ASSERT_TRUE(bind->Rebind(port).ok());
  EXPECT_EQ(bind->port(), port);
  EXPECT_EQ(bind->waitable(Family::kV4), v4);
}

TEST(WinsockBindTest, OpenOnAPortInUseFailsWithEaddrinuse) {
  auto squatter = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(squatter.ok());
  const uint16_t taken = LocalEndpoint(*squatter).port();
  auto bind = WinsockBind::Open(taken, ListenAddresses::Loopback());
  ASSERT_FALSE(bind.ok());
  EXPECT_EQ(bind.error().code(), EADDRINUSE) << bind.error().message();
}

TEST(WinsockBindTest, FailedRebindKeepsTheOldSockets) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto squatter = OpenUdp(Endpoint(Ip("::1"), 0));
  ASSERT_TRUE(squatter.ok());
  const uint16_t taken = LocalEndpoint(*squatter).port();
  const uint16_t old_port = bind->port();
  const Waitable old_event = bind->waitable(Family::kV4);
  auto r = bind->Rebind(taken);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EADDRINUSE) << r.error().message();
  EXPECT_EQ(bind->port(), old_port);
  EXPECT_EQ(bind->waitable(Family::kV4), old_event);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  ASSERT_TRUE(SendTo(*peer, Endpoint(Ip("127.0.0.1"), old_port), "still here"));
  std::vector<std::array<uint8_t, 2048>> storage;
  EXPECT_EQ(ReceiveAtLeast(*bind, Family::kV4, 1, storage).size(), 1u);
}

TEST(WinsockBindTest, FwmarkIsNotSupportedExceptZero) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  EXPECT_TRUE(bind->SetFwmark(0).ok());
  auto r = bind->SetFwmark(1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOTSUP);
}

// Windows answers a datagram to a closed port with an ICMP port unreachable,
// which by default makes the socket's next receive fail (WSAECONNRESET).
TEST(WinsockBindTest, PortUnreachableDoesNotBreakReceive) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    const Family family = Ip(address).family();
    uint16_t closed = 0;
    {
      auto gone = OpenUdp(Endpoint(Ip(address), 0));
      ASSERT_TRUE(gone.ok());
      closed = LocalEndpoint(*gone).port();
    }
    const std::string p = "anyone there?";
    SendItem item{Endpoint(Ip(address), closed), AsBytes(p), std::nullopt};
    auto sent = bind->Send(std::span(&item, 1));
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    // Give the ICMP answer time to come back, then receive a real datagram.
    WaitSignalled(bind->waitable(family), kQuiet);
    std::array<uint8_t, 64> buf;
    RecvSlot slot{buf};
    auto none = bind->Receive(family, std::span(&slot, 1));
    ASSERT_TRUE(none.ok()) << none.error().message();
    EXPECT_EQ(*none, 0u);
    auto peer = OpenUdp(Endpoint(Ip(address), 0));
    ASSERT_TRUE(peer.ok());
    ASSERT_TRUE(SendTo(*peer, Endpoint(Ip(address), bind->port()), "real"));
    std::vector<std::array<uint8_t, 2048>> storage;
    auto got = ReceiveAtLeast(*bind, family, 1, storage);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(Payload(got[0]), "real");
  }
}

}  // namespace
}  // namespace zl::net
