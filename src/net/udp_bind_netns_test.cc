#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "net/test_util.h"
#include "net/udp_bind.h"
#include "support/netns.h"

// Addresses (private namespace): lo carries 127.0.0.1/8 (so 127.0.0.2 is
// local too), ::1 and fd00::2. The bind listens on the wildcards; peers send
// to different local addresses and must hear back from the one they used.

namespace zl::net {
namespace {

using testing::AsBytes;
using testing::Ip;
using testing::OpenUdp;
using testing::ReceiveAtLeast;
using testing::ReceiveFrom;
using testing::SendTo;
using testing::Shell;
using testing::WaitReadable;
using Family = IpAddress::Family;

int GetIntOption(int fd, int level, int name) {
  int value = -1;
  socklen_t len = sizeof(value);
  EXPECT_EQ(::getsockopt(fd, level, name, &value, &len), 0);
  return value;
}

std::unique_ptr<LinuxBind> OpenAny() {
  auto bind = LinuxBind::Open(0);
  EXPECT_TRUE(bind.ok()) << bind.error().message();
  return bind.ok() ? std::move(*bind) : nullptr;
}

TEST(LinuxBindNetnsTest, SocketBuffersAreAtLeastFourMiB) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto bind = OpenAny();
  ASSERT_TRUE(bind);
  for (Family family : {Family::kV4, Family::kV6}) {
    const int fd = bind->fd(family);
    ASSERT_GE(fd, 0);
    EXPECT_GE(GetIntOption(fd, SOL_SOCKET, SO_RCVBUF), 4 << 20);
    EXPECT_GE(GetIntOption(fd, SOL_SOCKET, SO_SNDBUF), 4 << 20);
  }
  EXPECT_EQ(GetIntOption(bind->fd(Family::kV6), IPPROTO_IPV6, IPV6_V6ONLY), 1);
}

TEST(LinuxBindNetnsTest, FwmarkIsSetOnBothSocketsAndSurvivesRebind) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto bind = OpenAny();
  ASSERT_TRUE(bind);
  ASSERT_TRUE(bind->SetFwmark(0x51820).ok());
  for (Family family : {Family::kV4, Family::kV6}) {
    EXPECT_EQ(GetIntOption(bind->fd(family), SOL_SOCKET, SO_MARK), 0x51820);
  }
  const uint16_t old_port = bind->port();
  ASSERT_TRUE(bind->Rebind(0).ok());
  EXPECT_NE(bind->port(), old_port);
  for (Family family : {Family::kV4, Family::kV6}) {
    EXPECT_EQ(GetIntOption(bind->fd(family), SOL_SOCKET, SO_MARK), 0x51820);
  }
  ASSERT_TRUE(bind->SetFwmark(0).ok());
  EXPECT_EQ(GetIntOption(bind->fd(Family::kV4), SOL_SOCKET, SO_MARK), 0);
}

TEST(LinuxBindNetnsTest, RepliesLeaveFromTheAddressThePeerSentTo) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(Shell("ip addr add fd00::2/128 dev lo nodad"));
  ASSERT_TRUE(testing::WaitForLocalAddress(Ip("fd00::2")));
  auto bind = OpenAny();
  ASSERT_TRUE(bind);

  // Two peers per local address, bound to the wildcard so routing picks their
  // source (127.0.0.1 for both IPv4 targets).
  const std::vector<const char*> targets = {"127.0.0.1", "127.0.0.2", "::1",
                                            "fd00::2"};
  struct Peer {
    UniqueFd fd;
    IpAddress target;
    std::string payload;
  };
  std::vector<Peer> peers;
  for (const char* target : targets) {
    for (int i = 0; i < 2; ++i) {
      auto fd = OpenUdp(Endpoint(Ip(Ip(target).is_v4() ? "0.0.0.0" : "::"), 0));
      ASSERT_TRUE(fd.ok()) << fd.error().message();
      peers.push_back(Peer{std::move(*fd), Ip(target),
                           std::string(target) + " #" + std::to_string(i)});
      ASSERT_TRUE(SendTo(peers.back().fd.get(),
                         Endpoint(Ip(target), bind->port()),
                         peers.back().payload));
    }
  }

  // Four datagrams per family; Receive reports each one's local address.
  std::vector<std::array<uint8_t, 2048>> v4_storage, v6_storage;
  std::vector<RecvSlot> received =
      ReceiveAtLeast(*bind, Family::kV4, 4, v4_storage);
  std::vector<RecvSlot> v6 = ReceiveAtLeast(*bind, Family::kV6, 4, v6_storage);
  received.insert(received.end(), v6.begin(), v6.end());
  ASSERT_EQ(received.size(), peers.size());

  // Match each datagram to its peer, check what Receive reported, and answer
  // with the sticky source: one sendmmsg batch per family run.
  std::vector<std::string> replies(received.size());
  std::vector<SendItem> items;
  for (size_t i = 0; i < received.size(); ++i) {
    const RecvSlot& slot = received[i];
    const std::string payload(slot.buf.begin(),
                              slot.buf.begin() + static_cast<long>(slot.len));
    auto peer = std::find_if(peers.begin(), peers.end(), [&](const Peer& p) {
      return p.payload == payload;
    });
    ASSERT_NE(peer, peers.end()) << payload;
    // The peer is bound to the wildcard; routing chose its source address.
    EXPECT_EQ(slot.from.port(), testing::LocalEndpoint(peer->fd.get()).port());
    EXPECT_EQ(slot.from.address().family(), peer->target.family());
    ASSERT_TRUE(slot.local.has_value());
    EXPECT_EQ(*slot.local, peer->target) << payload;
    replies[i] = "reply to " + payload;
    items.push_back(SendItem{slot.from, AsBytes(replies[i]), slot.local});
  }
  auto sent = bind->Send(items);
  ASSERT_TRUE(sent.ok()) << sent.error().message();
  EXPECT_EQ(*sent, items.size());
  for (Peer& peer : peers) {
    auto reply = ReceiveFrom(peer.fd.get());
    ASSERT_TRUE(reply.has_value()) << peer.payload;
    EXPECT_EQ(reply->payload, "reply to " + peer.payload);
    EXPECT_EQ(reply->from, Endpoint(peer.target, bind->port()));
  }

  // Without the sticky source, the peer that talked to 127.0.0.2 would hear
  // back from 127.0.0.1 and drop the reply as coming from a stranger.
  Peer& to_second = peers[2];
  ASSERT_EQ(to_second.target, Ip("127.0.0.2"));
  SendItem plain{testing::LocalEndpoint(to_second.fd.get()),
                 AsBytes(to_second.payload), std::nullopt};
  plain.to = Endpoint(Ip("127.0.0.1"), plain.to.port());
  ASSERT_EQ(bind->Send(std::span(&plain, 1)).value(), 1u);
  auto reply = ReceiveFrom(to_second.fd.get());
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->from, Endpoint(Ip("127.0.0.1"), bind->port()));
}

TEST(LinuxBindNetnsTest, SourceRemovedFromTheHostFallsBackToRouting) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(Shell("ip addr add fd00::2/128 dev lo nodad"));
  ASSERT_TRUE(testing::WaitForLocalAddress(Ip("fd00::2")));
  auto bind = OpenAny();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint(Ip("::1"), 0));
  ASSERT_TRUE(peer.ok());
  ASSERT_TRUE(Shell("ip addr del fd00::2/128 dev lo"));
  const std::string payload = "source gone";
  SendItem item{testing::LocalEndpoint(peer->get()), AsBytes(payload),
                Ip("fd00::2")};
  auto sent = bind->Send(std::span(&item, 1));
  ASSERT_TRUE(sent.ok()) << sent.error().message();
  auto reply = ReceiveFrom(peer->get());
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->from, Endpoint(Ip("::1"), bind->port()));
}

// The same with send offload: the segmented message is refused for its
// source, not for its segmentation, so send offload stays on, and every
// datagram leaves from the address routing picks.
TEST(LinuxBindNetnsTest, StaleSourceOfASegmentedSendFallsBackToRouting) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(
      Shell("ip addr add fd00::2/128 dev lo nodad && "
            "ip addr add 10.9.0.2/32 dev lo"));
  ASSERT_TRUE(testing::WaitForLocalAddress(Ip("fd00::2")));
  auto bind = OpenAny();
  ASSERT_TRUE(bind);
  ASSERT_TRUE(bind->SetOffloads({.send = true, .receive = false}).send);
  ASSERT_TRUE(
      Shell("ip addr del fd00::2/128 dev lo && "
            "ip addr del 10.9.0.2/32 dev lo"));
  for (const char* loopback : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(loopback);
    auto peer = OpenUdp(Endpoint(Ip(loopback), 0));
    ASSERT_TRUE(peer.ok());
    const IpAddress stale = Ip(Ip(loopback).is_v4() ? "10.9.0.2" : "fd00::2");
    std::vector<std::string> payloads;
    for (int i = 0; i < 8; ++i) payloads.push_back(std::string(1000, 'a' + i));
    std::vector<SendItem> items;
    for (const std::string& payload : payloads) {
      items.push_back(SendItem{testing::LocalEndpoint(peer->get()),
                               AsBytes(payload), stale});
    }
    auto sent = bind->Send(items);
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    EXPECT_EQ(*sent, items.size());
    for (const std::string& payload : payloads) {
      auto got = ReceiveFrom(peer->get());
      ASSERT_TRUE(got.has_value());
      EXPECT_EQ(got->payload, payload);
      EXPECT_EQ(got->from, Endpoint(Ip(loopback), bind->port()));
    }
  }
  EXPECT_TRUE(bind->offloads().send);
}

// A link-local peer is only reachable through its interface: the sender's
// source comes back with the receiving interface's index as its scope, and
// the reply to that scoped endpoint arrives.
TEST(LinuxBindNetnsTest, LinkLocalPeerIsReportedWithItsScopeAndAnswered) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(
      Shell("ip link add zlv0 type veth peer name zlv1 && "
            "ip link set zlv1 up && ip link set zlv0 up && "
            "ip addr add fe80::1/64 dev zlv0 nodad"));
  const uint32_t index = ::if_nametoindex("zlv0");
  ASSERT_NE(index, 0u);
  ASSERT_TRUE(testing::WaitForLocalAddress(Ip("fe80::1"), index));
  auto bind = OpenAny();
  ASSERT_TRUE(bind);
  auto peer = OpenUdp(Endpoint::Parse("[fe80::1%zlv0]:0").value());
  ASSERT_TRUE(peer.ok()) << peer.error().message();
  const Endpoint peer_endpoint = testing::LocalEndpoint(peer->get());
  EXPECT_EQ(peer_endpoint.scope_id(), index);
  const Endpoint bind_endpoint =
      Endpoint::Parse("[fe80::1%zlv0]:" + std::to_string(bind->port())).value();
  ASSERT_TRUE(SendTo(peer->get(), bind_endpoint, "hello"));

  std::vector<std::array<uint8_t, 2048>> storage;
  auto received = ReceiveAtLeast(*bind, Family::kV6, 1, storage);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].from, peer_endpoint);
  EXPECT_EQ(received[0].from.ToString(),
            "[fe80::1%zlv0]:" + std::to_string(peer_endpoint.port()));

  const std::string payload = "hello back";
  SendItem reply_item{received[0].from, AsBytes(payload), received[0].local};
  ASSERT_EQ(bind->Send(std::span(&reply_item, 1)).value(), 1u);
  auto reply = ReceiveFrom(peer->get());
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->payload, payload);
  EXPECT_EQ(reply->from, bind_endpoint);
}

// Runs `work` on a thread of its own in the network namespace `netns` (an
// nsfs fd); a socket it opens stays in that namespace.
void RunInNetns(int netns, const std::function<void()>& work) {
  std::thread thread([&] {
    if (::setns(netns, CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "setns: " << std::strerror(errno);
      return;
    }
    work();
  });
  thread.join();
}

// A second, empty network namespace beside the test's own; it lives while
// the fd (or a socket in it) does.
UniqueFd NewNetns() {
  UniqueFd netns;
  std::thread thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare: " << std::strerror(errno);
      return;
    }
    netns = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  });
  thread.join();
  return netns;
}

// Turns the transmit checksum offload of `device` off (what `ethtool -K
// device tx off` does). Before Linux 6.11 the kernel refused UDP_SEGMENT sends
// through such a device (EIO); since, it checksums the segments itself.
bool TurnTxChecksumOff(const char* device) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ethtool_value value{};
  value.cmd = ETHTOOL_STXCSUM;
  value.data = 0;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, device, IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&value);
  if (!fd || ::ioctl(fd.get(), SIOCETHTOOL, &ifr) != 0) return false;
  value.cmd = ETHTOOL_GTXCSUM;
  return ::ioctl(fd.get(), SIOCETHTOOL, &ifr) == 0 && value.data == 0;
}

// Topology: this test's namespace holds the bind on 10.77.0.1 (zlg0); a
// second namespace holds the peer's plain socket on 10.77.0.2 (zlg1), at the
// other end of the veth pair.
class LinuxBindGsoNetnsTest : public ::testing::Test {
 protected:
  static constexpr size_t kDatagrams = 64;
  static constexpr size_t kSize = 1400;

  // Builds the topology; false (with a failure) when it could not.
  bool SetUpPair() {
    peer_netns_ = NewNetns();
    if (!peer_netns_) return false;
    if (!Shell("ip link add zlg0 type veth peer name zlg1 && "
               "ip link set zlg1 netns /proc/" +
               std::to_string(::getpid()) + "/fd/" +
               std::to_string(peer_netns_.get()) +
               " && "
               "ip addr add 10.77.0.1/24 dev zlg0 && ip link set zlg0 up")) {
      ADD_FAILURE() << "veth setup";
      return false;
    }
    RunInNetns(peer_netns_.get(), [&] {
      if (!Shell("ip link set lo up && ip addr add 10.77.0.2/24 dev zlg1 && "
                 "ip link set zlg1 up")) {
        ADD_FAILURE() << "peer setup";
        return;
      }
      auto fd = OpenUdp(Endpoint(Ip("10.77.0.2"), 0));
      if (!fd.ok()) {
        ADD_FAILURE() << fd.error().message();
        return;
      }
      const int size = 8 << 20;
      ::setsockopt(fd->get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
      peer_ = std::move(*fd);
    });
    if (!peer_) return false;
    peer_endpoint_ = testing::LocalEndpoint(peer_.get());
    auto bind = LinuxBind::Open(0, V4Only("10.77.0.1"));
    if (!bind.ok()) {
      ADD_FAILURE() << bind.error().message();
      return false;
    }
    bind_ = std::move(*bind);
    return true;
  }

  static ListenAddresses V4Only(const char* address) {
    ListenAddresses listen;
    listen.v4 = Ip(address);
    return listen;
  }

  // One datagram there and back through the bind: the neighbour entry is
  // resolved before the batch (whose datagrams would otherwise wait in the
  // small unresolved queue).
  void WarmUp() {
    const std::string hello = "hello";
    SendItem item{peer_endpoint_, AsBytes(hello), std::nullopt};
    ASSERT_EQ(bind_->Send(std::span(&item, 1)).value(), 1u);
    auto got = ReceiveFrom(peer_.get());
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->payload, hello);
  }

  // Sends kDatagrams × kSize to the peer in one Send; checks all arrive, in
  // order, byte for byte.
  void SendBatchAndCheck() {
    std::vector<std::string> payloads;
    std::vector<SendItem> items;
    for (size_t i = 0; i < kDatagrams; ++i) {
      payloads.emplace_back(kSize, static_cast<char>('A' + i % 26));
      payloads.back()[0] = static_cast<char>(i);
    }
    for (const std::string& payload : payloads) {
      items.push_back(SendItem{peer_endpoint_, AsBytes(payload), std::nullopt});
    }
    auto sent = bind_->Send(items);
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    EXPECT_EQ(*sent, items.size());
    for (size_t i = 0; i < kDatagrams; ++i) {
      auto got = ReceiveFrom(peer_.get());
      ASSERT_TRUE(got.has_value()) << "datagram " << i << " did not arrive";
      EXPECT_EQ(got->payload, payloads[i]) << i;
      EXPECT_EQ(got->from, Endpoint(Ip("10.77.0.1"), bind_->port()));
    }
  }

  UniqueFd peer_netns_;
  UniqueFd peer_;
  Endpoint peer_endpoint_;
  std::unique_ptr<LinuxBind> bind_;
};

TEST_F(LinuxBindGsoNetnsTest, SegmentedBatchCrossesAVethPairComplete) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(SetUpPair());
  ASSERT_TRUE(bind_->SetOffloads({.send = true, .receive = false}).send);
  WarmUp();
  SendBatchAndCheck();
  EXPECT_TRUE(bind_->offloads().send);
}

TEST_F(LinuxBindGsoNetnsTest, WithSendOffloadOffTheBatchGoesOnePerMessage) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(SetUpPair());
  ASSERT_FALSE(bind_->SetOffloads({}).send);
  WarmUp();
  SendBatchAndCheck();
}

// A segment larger than the route's MTU makes the kernel refuse the segmented
// message (EINVAL), while it sends (fragments) the datagrams one by one: Send
// turns send offload off for good and sends them one per message, losing
// none.
TEST_F(LinuxBindGsoNetnsTest, RefusedSegmentationFallsBackForGood) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(SetUpPair());
  ASSERT_TRUE(Shell("ip link set zlg0 mtu 1400"));
  ASSERT_TRUE(bind_->SetOffloads({.send = true, .receive = false}).send);
  WarmUp();
  SendBatchAndCheck();
  EXPECT_FALSE(bind_->offloads().send);
  EXPECT_FALSE(bind_->SetOffloads({.send = true, .receive = false}).send);
  SendBatchAndCheck();
}

TEST_F(LinuxBindGsoNetnsTest, ADeviceWithoutChecksumOffloadLosesNothing) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(SetUpPair());
  ASSERT_TRUE(TurnTxChecksumOff("zlg0")) << std::strerror(errno);
  ASSERT_TRUE(bind_->SetOffloads({.send = true, .receive = false}).send);
  WarmUp();
  SendBatchAndCheck();
}

}  // namespace
}  // namespace zl::net
