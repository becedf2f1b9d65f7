#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <map>
#include <string>
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

// A link-local peer is only reachable through its interface: the sender's
// source comes back with the receiving interface's index as its scope, and
// the reply to that scoped endpoint arrives.
TEST(LinuxBindNetnsTest, LinkLocalPeerIsReportedWithItsScopeAndAnswered) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(Shell("ip link add zlv0 type veth peer name zlv1 && "
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

}  // namespace
}  // namespace zl::net
