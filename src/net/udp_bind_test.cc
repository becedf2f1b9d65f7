#include "net/udp_bind.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "net/test_util.h"

// Hermetic: everything binds to 127.0.0.1 / ::1 in the host namespace. Tests
// needing root (buffer sizes, fwmark) or extra addresses are in
// udp_bind_netns_test.cc.

namespace zl::net {
namespace {

using testing::AsBytes;
using testing::Ip;
using testing::OpenUdp;
using testing::ReceiveAtLeast;
using testing::ReceiveFrom;
using testing::SendTo;
using testing::WaitReadable;
using Family = IpAddress::Family;

std::unique_ptr<LinuxBind> OpenLoopback(uint16_t port = 0) {
  auto bind = LinuxBind::Open(port, ListenAddresses::Loopback());
  EXPECT_TRUE(bind.ok()) << bind.error().message();
  return bind.ok() ? std::move(*bind) : nullptr;
}

std::string Payload(const RecvSlot& slot) {
  return std::string(slot.buf.begin(),
                     slot.buf.begin() + static_cast<long>(slot.len));
}

TEST(LinuxBindTest, PortZeroGivesBothFamiliesTheSamePort) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  EXPECT_NE(bind->port(), 0);
  ASSERT_GE(bind->fd(Family::kV4), 0);
  ASSERT_GE(bind->fd(Family::kV6), 0);
  EXPECT_EQ(testing::LocalEndpoint(bind->fd(Family::kV4)),
            Endpoint(Ip("127.0.0.1"), bind->port()));
  EXPECT_EQ(testing::LocalEndpoint(bind->fd(Family::kV6)),
            Endpoint(Ip("::1"), bind->port()));
}

TEST(LinuxBindTest, ReceiveReportsSourceAndLocalAddress) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    auto peer = OpenUdp(Endpoint(Ip(address), 0));
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    ASSERT_TRUE(
        SendTo(peer->get(), Endpoint(Ip(address), bind->port()), "hello"));
    std::vector<std::array<uint8_t, 2048>> storage;
    auto got = ReceiveAtLeast(*bind, Ip(address).family(), 1, storage);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(Payload(got[0]), "hello");
    EXPECT_EQ(got[0].from, testing::LocalEndpoint(peer->get()));
    ASSERT_TRUE(got[0].local.has_value());
    EXPECT_EQ(*got[0].local, Ip(address));
  }
}

TEST(LinuxBindTest, ReceiveWithNothingWaitingReturnsZero) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  std::array<uint8_t, 64> buf;
  RecvSlot slot{buf};
  auto n = bind->Receive(Family::kV4, std::span(&slot, 1));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST(LinuxBindTest, SendBatchOfMixedFamiliesReachesEveryPeer) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  std::vector<UniqueFd> peers;
  std::vector<std::string> payloads;
  std::vector<SendItem> items;
  for (int i = 0; i < 6; ++i) {
    auto peer = OpenUdp(Endpoint(Ip(i % 3 == 0 ? "::1" : "127.0.0.1"), 0));
    ASSERT_TRUE(peer.ok());
    payloads.push_back("datagram " + std::to_string(i));
    peers.push_back(std::move(*peer));
  }
  for (int i = 0; i < 6; ++i) {
    const std::string& p = payloads[i];
    items.push_back(SendItem{testing::LocalEndpoint(peers[i].get()), AsBytes(p),
                             std::nullopt});
  }
  auto sent = bind->Send(items);
  ASSERT_TRUE(sent.ok()) << sent.error().message();
  EXPECT_EQ(*sent, items.size());
  for (int i = 0; i < 6; ++i) {
    auto got = ReceiveFrom(peers[i].get());
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_EQ(got->payload, payloads[i]);
    EXPECT_EQ(got->from.port(), bind->port());
  }
}

TEST(LinuxBindTest, SourceThatIsNotLocalFallsBackToRouting) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  const std::string p = "stale source";
  // 192.0.2.1 (TEST-NET-1) is not an address of this host: refused, retried
  // without the source.
  SendItem item{testing::LocalEndpoint(peer->get()), AsBytes(p),
                Ip("192.0.2.1")};
  auto sent = bind->Send(std::span(&item, 1));
  ASSERT_TRUE(sent.ok()) << sent.error().message();
  EXPECT_EQ(*sent, 1u);
  auto got = ReceiveFrom(peer->get());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload, p);
  EXPECT_EQ(got->from, Endpoint(Ip("127.0.0.1"), bind->port()));
}

TEST(LinuxBindTest, SendToAFamilyThatIsOffFails) {
  ListenAddresses v4_only = ListenAddresses::Loopback();
  v4_only.v6.reset();
  auto bind = LinuxBind::Open(0, v4_only);
  ASSERT_TRUE(bind.ok());
  EXPECT_EQ((*bind)->fd(Family::kV6), -1);
  const uint8_t byte = 0;
  SendItem item{Endpoint(Ip("::1"), 9), ByteSpan(&byte, 1), std::nullopt};
  auto sent = (*bind)->Send(std::span(&item, 1));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().code(), EAFNOSUPPORT);
}

TEST(LinuxBindTest, RebindMovesToANewPort) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  const uint16_t old_port = bind->port();
  ASSERT_TRUE(bind->Rebind(0).ok());
  EXPECT_NE(bind->port(), old_port);
  // The old port is free again, and the new one receives.
  EXPECT_TRUE(OpenUdp(Endpoint(Ip("127.0.0.1"), old_port)).ok());
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  ASSERT_TRUE(SendTo(peer->get(), Endpoint(Ip("127.0.0.1"), bind->port()),
                     "after rebind"));
  std::vector<std::array<uint8_t, 2048>> storage;
  auto got = ReceiveAtLeast(*bind, Family::kV4, 1, storage);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Payload(got[0]), "after rebind");
}

TEST(LinuxBindTest, FailedRebindKeepsTheOldSockets) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto squatter = OpenUdp(Endpoint(Ip("::1"), 0));
  ASSERT_TRUE(squatter.ok());
  const uint16_t taken = testing::LocalEndpoint(squatter->get()).port();
  const uint16_t old_port = bind->port();
  const int old_fd = bind->fd(Family::kV4);
  auto r = bind->Rebind(taken);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EADDRINUSE);
  EXPECT_EQ(bind->port(), old_port);
  EXPECT_EQ(bind->fd(Family::kV4), old_fd);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  ASSERT_TRUE(
      SendTo(peer->get(), Endpoint(Ip("127.0.0.1"), old_port), "still here"));
  std::vector<std::array<uint8_t, 2048>> storage;
  EXPECT_EQ(ReceiveAtLeast(*bind, Family::kV4, 1, storage).size(), 1u);
}

TEST(LinuxBindTest, RebindToTheCurrentPortIsANoOp) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  const int fd = bind->fd(Family::kV4);
  ASSERT_TRUE(bind->Rebind(bind->port()).ok());
  EXPECT_EQ(bind->fd(Family::kV4), fd);
}

TEST(LinuxBindTest, ReceiveTakesAtMostOneBatchPerCall) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("127.0.0.1"), 0));
  ASSERT_TRUE(peer.ok());
  constexpr size_t kDatagrams = kMaxBatchSize + 36;
  for (size_t i = 0; i < kDatagrams; ++i) {
    ASSERT_TRUE(SendTo(peer->get(), Endpoint(Ip("127.0.0.1"), bind->port()),
                       std::to_string(i)));
  }
  // Loopback may hand datagrams to the socket a little later (softirq), so
  // receive until all came; each call takes at most one batch.
  std::vector<std::array<uint8_t, 64>> storage(kDatagrams + kMaxBatchSize);
  std::vector<RecvSlot> slots(storage.size());
  for (size_t i = 0; i < slots.size(); ++i) slots[i].buf = storage[i];
  size_t total = 0;
  int calls = 0;
  while (total < kDatagrams && WaitReadable(bind->fd(Family::kV4))) {
    auto n = bind->Receive(Family::kV4, std::span(slots).subspan(total));
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_LE(*n, kMaxBatchSize);
    total += *n;
    ++calls;
  }
  ASSERT_EQ(total, kDatagrams);
  EXPECT_GE(calls, 2);
  for (size_t i = 0; i < kDatagrams; ++i) {
    EXPECT_EQ(Payload(slots[i]), std::to_string(i));
  }
}

}  // namespace
}  // namespace zl::net
