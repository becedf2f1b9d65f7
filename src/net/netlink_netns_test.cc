#include <gtest/gtest.h>

#include <vector>

#include "net/event_loop.h"
#include "net/linux_tun.h"
#include "net/netlink.h"
#include "net/test_util.h"
#include "support/netns.h"

namespace zl::net {
namespace {

using testing::Shell;
using testing::WaitReadable;

// Collects events (bounded in time) until one satisfies `done`.
std::vector<LinkEvent> ReadUntil(
    LinkWatcher& watcher, const std::function<bool(const LinkEvent&)>& done) {
  std::vector<LinkEvent> all;
  while (WaitReadable(watcher.fd())) {
    auto events = watcher.ReadEvents();
    EXPECT_TRUE(events.ok()) << events.error().message();
    if (!events.ok()) break;
    for (LinkEvent& e : *events) {
      all.push_back(e);
      if (done(e)) return all;
    }
  }
  ADD_FAILURE() << "expected link event did not come; got " << all.size()
                << " others";
  return all;
}

TEST(NetlinkNetnsTest, LoopbackIsIndexOneAndUp) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto index = InterfaceIndex("lo");
  ASSERT_TRUE(index.ok()) << index.error().message();
  EXPECT_EQ(*index, 1);
  auto link = GetLink(*index);
  ASSERT_TRUE(link.ok()) << link.error().message();
  EXPECT_EQ(link->name, "lo");
  EXPECT_TRUE(link->up);
  EXPECT_EQ(link->mtu, 65536u);
}

TEST(NetlinkNetnsTest, MissingLinksAreEnodev) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto index = InterfaceIndex("nosuch0");
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.error().code(), ENODEV);
  auto link = GetLink(4242);
  ASSERT_FALSE(link.ok());
  EXPECT_EQ(link.error().code(), ENODEV);
  auto up = SetLinkUp(4242);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code(), ENODEV);
}

TEST(NetlinkNetnsTest, SetLinkUpAndMtu) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("zl0");
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  const int index = (*tun)->index();
  ASSERT_TRUE(SetLinkUp(index).ok());
  ASSERT_TRUE(SetLinkMtu(index, 1300).ok());
  auto link = GetLink(index);
  ASSERT_TRUE(link.ok());
  EXPECT_TRUE(link->up);
  EXPECT_EQ(link->mtu, 1300u);
  ASSERT_TRUE(SetLinkUp(index, false).ok());
  EXPECT_FALSE(GetLink(index)->up);
}

TEST(NetlinkNetnsTest, WatcherReportsMtuChangeThenDeletion) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("zl0");
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  auto other = CreateLinuxTun("zl1");
  ASSERT_TRUE(other.ok());
  auto watcher = LinkWatcher::Create((*tun)->index());
  ASSERT_TRUE(watcher.ok()) << watcher.error().message();

  ASSERT_TRUE(Shell("ip link set zl1 mtu 1200"));  // not the watched link
  ASSERT_TRUE(Shell("ip link set zl0 mtu 1300"));
  auto events = ReadUntil(
      **watcher, [](const LinkEvent& e) { return e.link.mtu == 1300; });
  for (const LinkEvent& e : events) {
    EXPECT_EQ(e.link.index, (*tun)->index());
    EXPECT_EQ(e.kind, LinkEvent::Kind::kChanged);
  }

  ASSERT_TRUE(Shell("ip link del zl0"));
  events = ReadUntil(**watcher, [](const LinkEvent& e) {
    return e.kind == LinkEvent::Kind::kDeleted;
  });
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().link.name, "zl0");

  // The TUN's descriptor is now detached: reads fail instead of blocking.
  std::array<uint8_t, 1500> buf;
  TunPacket packet{buf};
  auto n = (*tun)->ReadBatch(std::span(&packet, 1));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), EBADFD) << n.error().message();
}

// How the device uses it: the loop stops when its TUN disappears.
TEST(NetlinkNetnsTest, EventLoopStopsWhenTheWatchedTunIsDeleted) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  auto tun = CreateLinuxTun("zl0");
  ASSERT_TRUE(tun.ok()) << tun.error().message();
  auto watcher = LinkWatcher::Create((*tun)->index());
  ASSERT_TRUE(watcher.ok());
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  EventLoop& l = **loop;

  bool deleted = false;
  ASSERT_TRUE(l.Watch((*watcher)->fd(), kReadable, [&](uint32_t) {
                 auto events = (*watcher)->ReadEvents();
                 ASSERT_TRUE(events.ok());
                 for (const LinkEvent& e : *events) {
                   if (e.kind == LinkEvent::Kind::kDeleted) {
                     deleted = true;
                     l.Stop();
                   }
                 }
               }).ok());
  ASSERT_TRUE(l.AddTimer(std::chrono::milliseconds(10), Duration::zero(), [] {
                 ASSERT_TRUE(Shell("ip link del zl0"));
               }).ok());
  ASSERT_TRUE(l.AddTimer(testing::kTestTimeout, Duration::zero(), [&] {
                 l.Stop();
               }).ok());
  ASSERT_TRUE(l.Run().ok());
  EXPECT_TRUE(deleted);
}

}  // namespace
}  // namespace zl::net
