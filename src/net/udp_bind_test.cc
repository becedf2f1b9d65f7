#include "net/udp_bind.h"

#include <gtest/gtest.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "net/test_util.h"

// What is particular to LinuxBind; the Bind contract is checked against it in
// bind_test.cc. Hermetic: everything binds to 127.0.0.1 / ::1 in the host
// namespace. Tests needing root (buffer sizes, fwmark) or extra addresses are
// in udp_bind_netns_test.cc.

namespace zl::net {
namespace {

using testing::AsBytes;
using testing::Ip;
using testing::LocalEndpoint;
using testing::OpenUdp;
using testing::ReceiveFrom;
using testing::WaitReadable;
using Family = IpAddress::Family;

std::unique_ptr<LinuxBind> OpenLoopback(
    ListenAddresses listen = ListenAddresses::Loopback()) {
  auto bind = LinuxBind::Open(0, std::move(listen));
  EXPECT_TRUE(bind.ok()) << bind.error().message();
  return bind.ok() ? std::move(*bind) : nullptr;
}

int GroOption(int fd) {
  int value = -1;
  socklen_t len = sizeof(value);
  EXPECT_EQ(::getsockopt(fd, SOL_UDP, UDP_GRO, &value, &len), 0);
  return value;
}

// Datagram `index` of a test: `size` bytes that differ from every other
// datagram's.
std::string Pattern(size_t index, size_t size) {
  std::string bytes(size, '\0');
  for (size_t j = 0; j < size; ++j) {
    bytes[j] = static_cast<char>((index * 31 + j * 7 + index / 8) & 0xff);
  }
  return bytes;
}

// Datagrams to send: payloads (Pattern) and the items pointing into them.
class Batch {
 public:
  void Add(const Endpoint& to, size_t size,
           std::optional<IpAddress> source = std::nullopt) {
    payloads_.push_back(Pattern(payloads_.size(), size));
    targets_.push_back({to, source});
  }
  void AddRun(const Endpoint& to, size_t count, size_t size) {
    for (size_t i = 0; i < count; ++i) Add(to, size);
  }
  const std::string& payload(size_t i) const { return payloads_[i]; }
  size_t size() const { return payloads_.size(); }
  // The payloads sent to `to`, in order.
  std::vector<std::string> PayloadsTo(const Endpoint& to) const {
    std::vector<std::string> out;
    for (size_t i = 0; i < size(); ++i) {
      if (targets_[i].first == to) out.push_back(payloads_[i]);
    }
    return out;
  }
  std::vector<SendItem> Items() const {
    std::vector<SendItem> items;
    for (size_t i = 0; i < size(); ++i) {
      items.push_back(SendItem{targets_[i].first, AsBytes(payloads_[i]),
                               targets_[i].second});
    }
    return items;
  }

 private:
  std::vector<std::string> payloads_;
  std::vector<std::pair<Endpoint, std::optional<IpAddress>>> targets_;
};

// A plain UDP socket on `address` whose receive buffer holds a few hundred
// datagrams.
UniqueFd OpenPeer(const char* address) {
  auto fd = OpenUdp(Endpoint(Ip(address), 0));
  EXPECT_TRUE(fd.ok()) << fd.error().message();
  if (!fd.ok()) return UniqueFd();
  const int size = 4 << 20;
  ::setsockopt(fd->get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  return std::move(*fd);
}

// Up to `count` datagrams from `fd` (each wait bounded).
std::vector<std::string> ReceivePayloads(int fd, size_t count) {
  std::vector<std::string> got;
  while (got.size() < count) {
    auto datagram = ReceiveFrom(fd);
    if (!datagram) break;
    got.push_back(datagram->payload);
  }
  return got;
}

// The datagrams a slot holds (several when UDP_GRO coalesced them).
std::vector<std::string> SplitSlot(const RecvSlot& slot) {
  const std::string bytes(slot.buf.begin(),
                          slot.buf.begin() + static_cast<long>(slot.len));
  if (slot.segment_size == 0) return {bytes};
  std::vector<std::string> out;
  for (size_t at = 0; at < bytes.size(); at += slot.segment_size) {
    out.push_back(bytes.substr(at, slot.segment_size));
  }
  return out;
}

// Receives (each wait bounded) from the `family` socket of `bind` into slots
// of `slot_size` bytes until `datagrams` datagrams came; `storage` holds the
// buffers.
std::vector<RecvSlot> ReceiveDatagrams(
    LinuxBind& bind, Family family, size_t datagrams, size_t slot_size,
    std::vector<std::vector<uint8_t>>& storage) {
  std::vector<RecvSlot> got;
  size_t count = 0;
  while (count < datagrams && WaitReadable(bind.fd(family))) {
    std::vector<RecvSlot> slots(kMaxBatchSize);
    for (RecvSlot& slot : slots) {
      storage.emplace_back(slot_size);
      slot.buf = storage.back();
    }
    auto n = bind.Receive(family, slots);
    if (!n.ok()) break;
    for (size_t i = 0; i < *n; ++i) {
      count += SplitSlot(slots[i]).size();
      got.push_back(slots[i]);
    }
  }
  return got;
}

std::vector<std::string> AllDatagrams(const std::vector<RecvSlot>& slots) {
  std::vector<std::string> out;
  for (const RecvSlot& slot : slots) {
    for (std::string& datagram : SplitSlot(slot))
      out.push_back(std::move(datagram));
  }
  return out;
}

constexpr BindOffloads kSendOffload{.send = true, .receive = false};
constexpr BindOffloads kReceiveOffload{.send = false, .receive = true};
constexpr BindOffloads kBothOffloads{.send = true, .receive = true};
constexpr BindOffloads kNoOffloads{};

std::string Describe(const BindOffloads& offloads) {
  return std::string("send ") + (offloads.send ? "on" : "off") + ", receive " +
         (offloads.receive ? "on" : "off");
}

TEST(LinuxBindTest, EachFamilysFdIsBoundToItsListenAddressOnOnePort) {
  auto bind = LinuxBind::Open(0, ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok()) << bind.error().message();
  const LinuxBind& b = **bind;
  EXPECT_NE(b.port(), 0);
  ASSERT_GE(b.fd(Family::kV4), 0);
  ASSERT_GE(b.fd(Family::kV6), 0);
  EXPECT_EQ(b.waitable(Family::kV4), b.fd(Family::kV4));
  EXPECT_EQ(b.waitable(Family::kV6), b.fd(Family::kV6));
  EXPECT_EQ(testing::LocalEndpoint(b.fd(Family::kV4)),
            Endpoint(Ip("127.0.0.1"), b.port()));
  EXPECT_EQ(testing::LocalEndpoint(b.fd(Family::kV6)),
            Endpoint(Ip("::1"), b.port()));
}

TEST(LinuxBindTest, AFamilyThatIsOffHasNoFd) {
  ListenAddresses v4_only = ListenAddresses::Loopback();
  v4_only.v6.reset();
  auto bind = LinuxBind::Open(0, v4_only);
  ASSERT_TRUE(bind.ok());
  EXPECT_EQ((*bind)->fd(Family::kV6), -1);
}

TEST(LinuxBindTest, OpenUdpBindGivesALinuxBind) {
  auto bind = OpenUdpBind(0, ListenAddresses::Loopback());
  ASSERT_TRUE(bind.ok()) << bind.error().message();
  EXPECT_NE(dynamic_cast<LinuxBind*>(bind->get()), nullptr);
}

TEST(LinuxBindOffloadTest, OffUntilAskedThenOnForBothSocketsAndOffAgain) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  EXPECT_EQ(Describe(bind->offloads()), Describe(kNoOffloads));
  EXPECT_EQ(GroOption(bind->fd(Family::kV4)), 0);
  // This kernel (Linux 6.18) has both.
  EXPECT_EQ(Describe(bind->SetOffloads(kBothOffloads)),
            Describe(kBothOffloads));
  EXPECT_EQ(Describe(bind->offloads()), Describe(kBothOffloads));
  for (Family family : {Family::kV4, Family::kV6}) {
    EXPECT_EQ(GroOption(bind->fd(family)), 1);
  }
  EXPECT_EQ(Describe(bind->SetOffloads(kNoOffloads)), Describe(kNoOffloads));
  for (Family family : {Family::kV4, Family::kV6}) {
    EXPECT_EQ(GroOption(bind->fd(family)), 0);
  }
  EXPECT_EQ(Describe(bind->SetOffloads(kReceiveOffload)),
            Describe(kReceiveOffload));
  EXPECT_EQ(Describe(bind->SetOffloads(kSendOffload)), Describe(kSendOffload));
  EXPECT_EQ(GroOption(bind->fd(Family::kV4)), 0);
}

TEST(LinuxBindOffloadTest, OffloadsAreKeptAcrossRebind) {
  auto bind = OpenLoopback();
  ASSERT_TRUE(bind);
  ASSERT_EQ(Describe(bind->SetOffloads(kBothOffloads)),
            Describe(kBothOffloads));
  ASSERT_TRUE(bind->Rebind(0).ok());
  EXPECT_EQ(Describe(bind->offloads()), Describe(kBothOffloads));
  for (Family family : {Family::kV4, Family::kV6}) {
    EXPECT_EQ(GroOption(bind->fd(family)), 1);
  }
}

// A GSO sender, plain receivers: the kernel cuts each segmented message back
// into the datagrams, in order and byte for byte.
TEST(LinuxBindOffloadTest, SegmentedSendArrivesAsTheSeparateDatagrams) {
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    auto bind = OpenLoopback();
    ASSERT_TRUE(bind);
    ASSERT_TRUE(bind->SetOffloads(kSendOffload).send);
    UniqueFd peer = OpenPeer(address);
    ASSERT_TRUE(peer);
    const Endpoint to = LocalEndpoint(peer.get());
    Batch batch;
    batch.AddRun(to, 40, 1200);
    batch.Add(to, 700);
    auto sent = bind->Send(batch.Items());
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    EXPECT_EQ(*sent, batch.size());
    EXPECT_EQ(ReceivePayloads(peer.get(), batch.size()), batch.PayloadsTo(to));
    EXPECT_TRUE(bind->offloads().send);  // no fallback on loopback
  }
}

TEST(LinuxBindOffloadTest, InterleavedDestinationsAndSizesArriveInOrder) {
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    auto bind = OpenLoopback();
    ASSERT_TRUE(bind);
    ASSERT_TRUE(bind->SetOffloads(kSendOffload).send);
    UniqueFd peer_a = OpenPeer(address);
    UniqueFd peer_b = OpenPeer(address);
    ASSERT_TRUE(peer_a && peer_b);
    const Endpoint a = LocalEndpoint(peer_a.get());
    const Endpoint b = LocalEndpoint(peer_b.get());
    Batch batch;
    batch.AddRun(a, 5, 1000);  // a group
    batch.Add(b, 1000);        // alone: the destination changes
    batch.Add(a, 1000);        // and back
    batch.AddRun(b, 3, 1300);
    batch.Add(b, 1400);  // longer: a new group
    batch.Add(b, 1400);
    batch.Add(b, 1);  // a 1-byte last segment
    batch.AddRun(a, 2, 50);
    batch.Add(a, 0);  // empty datagrams stand alone
    batch.AddRun(a, 3, 200);
    auto sent = bind->Send(batch.Items());
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    EXPECT_EQ(*sent, batch.size());
    const std::vector<std::string> to_a = batch.PayloadsTo(a);
    const std::vector<std::string> to_b = batch.PayloadsTo(b);
    EXPECT_EQ(ReceivePayloads(peer_a.get(), to_a.size()), to_a);
    EXPECT_EQ(ReceivePayloads(peer_b.get(), to_b.size()), to_b);
  }
}

// Loopback hands a segmented message to a UDP_GRO socket whole: one slot holds
// all its datagrams back to back.
// Ten 1200-byte datagrams and one of 500, sent with send offload from one
// loopback bind to another (with receive offload if `gro`), and received.
struct SegmentedExchange {
  std::unique_ptr<LinuxBind> sender;
  std::unique_ptr<LinuxBind> receiver;
  Endpoint to;
  Batch batch;
  std::vector<std::vector<uint8_t>> storage;
  std::vector<RecvSlot> slots;
};

void ExchangeSegmented(const char* address, bool gro, SegmentedExchange& x) {
  x.sender = OpenLoopback();
  x.receiver = OpenLoopback();
  ASSERT_TRUE(x.sender && x.receiver);
  ASSERT_TRUE(x.sender->SetOffloads(kSendOffload).send);
  if (gro) {
    ASSERT_TRUE(x.receiver->SetOffloads(kReceiveOffload).receive);
  }
  x.to = Endpoint(Ip(address), x.receiver->port());
  x.batch.AddRun(x.to, 10, 1200);
  x.batch.Add(x.to, 500);
  ASSERT_EQ(x.sender->Send(x.batch.Items()).value(), x.batch.size());
  x.slots = ReceiveDatagrams(*x.receiver, Ip(address).family(), x.batch.size(), 65535,
                             x.storage);
}

TEST(LinuxBindOffloadTest, GroReceiverGetsASegmentedSendAsOneSlot) {
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    SegmentedExchange x;
    ASSERT_NO_FATAL_FAILURE(ExchangeSegmented(address, /*gro=*/true, x));
    const auto& slots = x.slots;
    const auto& sender = x.sender;
    const auto& receiver = x.receiver;
    const Batch& batch = x.batch;
    const Endpoint& to = x.to;
    ASSERT_EQ(slots.size(), 1u);
    EXPECT_EQ(slots[0].segment_size, 1200u);
    EXPECT_EQ(slots[0].len, 10 * 1200u + 500);
    EXPECT_EQ(slots[0].from, Endpoint(Ip(address), sender->port()));
    ASSERT_TRUE(slots[0].local.has_value());
    EXPECT_EQ(*slots[0].local, Ip(address));
    EXPECT_EQ(AllDatagrams(slots), batch.PayloadsTo(to));
    EXPECT_EQ(receiver->gro_datagrams_lost(), 0u);
  }
}

TEST(LinuxBindOffloadTest, WithoutGroEachSlotHoldsOneDatagram) {
  for (const char* address : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(address);
    SegmentedExchange x;
    ASSERT_NO_FATAL_FAILURE(ExchangeSegmented(address, /*gro=*/false, x));
    const auto& slots = x.slots;
    const Batch& batch = x.batch;
    const Endpoint& to = x.to;
    ASSERT_EQ(slots.size(), batch.size());
    for (const RecvSlot& slot : slots) EXPECT_EQ(slot.segment_size, 0u);
    EXPECT_EQ(AllDatagrams(slots), batch.PayloadsTo(to));
  }
}

// A GRO slot too small for what arrived keeps the whole segments that fit and
// counts the rest as lost; one smaller than a segment keeps one truncated
// datagram, as without GRO.
TEST(LinuxBindOffloadTest, ASmallGroSlotKeepsWholeSegmentsAndCountsTheLost) {
  auto sender = OpenLoopback();
  auto receiver = OpenLoopback();
  ASSERT_TRUE(sender && receiver);
  ASSERT_TRUE(sender->SetOffloads(kSendOffload).send);
  ASSERT_TRUE(receiver->SetOffloads(kReceiveOffload).receive);
  const Endpoint to(Ip("127.0.0.1"), receiver->port());
  Batch batch;
  batch.AddRun(to, 10, 1200);
  ASSERT_EQ(sender->Send(batch.Items()).value(), batch.size());
  std::vector<std::vector<uint8_t>> storage;
  auto slots = ReceiveDatagrams(*receiver, Family::kV4, 1, 3000, storage);
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].len, 2400u);
  EXPECT_EQ(slots[0].segment_size, 1200u);
  EXPECT_EQ(AllDatagrams(slots),
            (std::vector<std::string>{batch.payload(0), batch.payload(1)}));
  EXPECT_EQ(receiver->gro_datagrams_lost(), 8u);

  ASSERT_EQ(sender->Send(batch.Items()).value(), batch.size());
  storage.clear();
  slots = ReceiveDatagrams(*receiver, Family::kV4, 1, 1000, storage);
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].len, 1000u);
  EXPECT_EQ(slots[0].segment_size, 0u);
  EXPECT_EQ(AllDatagrams(slots)[0], batch.payload(0).substr(0, 1000));
  EXPECT_EQ(receiver->gro_datagrams_lost(), 8u + 9u);
}

// The sticky source goes with a segmented message: every datagram leaves from
// it (127.0.0.2 is local, but routing would pick 127.0.0.1).
TEST(LinuxBindOffloadTest, SegmentedSendHonoursTheSourceAddress) {
  ListenAddresses any_v4;
  any_v4.v4 = Ip("0.0.0.0");
  auto bind = OpenLoopback(any_v4);
  ASSERT_TRUE(bind);
  ASSERT_TRUE(bind->SetOffloads(kSendOffload).send);
  UniqueFd peer = OpenPeer("127.0.0.1");
  ASSERT_TRUE(peer);
  const Endpoint to = LocalEndpoint(peer.get());
  Batch batch;
  for (int i = 0; i < 8; ++i) batch.Add(to, 1000, Ip("127.0.0.2"));
  for (int i = 0; i < 8; ++i) batch.Add(to, 1000, Ip("127.0.0.1"));
  ASSERT_EQ(bind->Send(batch.Items()).value(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    auto datagram = ReceiveFrom(peer.get());
    ASSERT_TRUE(datagram.has_value()) << i;
    EXPECT_EQ(datagram->payload, batch.payload(i));
    EXPECT_EQ(datagram->from,
              Endpoint(Ip(i < 8 ? "127.0.0.2" : "127.0.0.1"), bind->port()));
  }
}

}  // namespace
}  // namespace zl::net
