// Multi-queue TUN (LinuxTunOptions::multi_queue, TunDevice::OpenQueue).
//
// Topology (one private namespace per test):
//
//   UDP sockets 10.0.0.1 ──► kernel ──► zl0 (10.0.0.1/24) ─┬─► queue 0
//                                        (spread by flow)  ├─► queue 1
//                                                          └─► queue 2
//   UDP sockets 10.0.0.1 ◄── kernel ◄── any queue's Write (from 10.0.0.2)

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "net/linux_tun.h"
#include "net/netlink.h"
#include "net/test_util.h"
#include "net/tun_test_packets.h"
#include "support/netns.h"

namespace zl::net {
namespace {

using testing::BuildPacket;
using testing::ChecksumsVerify;
using testing::Flow;
using testing::Ip;
using testing::OpenUdp;
using testing::ParsePacket;
using testing::Payload;
using testing::ReceiveFrom;
using testing::SendTo;
using testing::Shell;
using testing::WaitReadable;

using Queues = std::vector<std::unique_ptr<TunDevice>>;

// Reads every queue on a thread of its own, at the same time, by ReadBatch's
// rule (a full batch means "call again"), and hands each packet with its
// queue's number to `on_packet` (one call at a time) until it returns true
// ("all seen") or `limit` passes.
void ReadQueuesConcurrently(
    const Queues& queues,
    const std::function<bool(size_t queue, ByteSpan packet)>& on_packet,
    std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::atomic<bool> done{false};
  std::mutex mutex;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto read = [&](size_t q) {
    constexpr size_t kBatch = 7;
    std::vector<std::array<uint8_t, 2048>> storage(kBatch);
    std::vector<TunPacket> packets(kBatch);
    bool full = false;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      if (!full &&
          !WaitReadable(queues[q]->waitable(), std::chrono::milliseconds(20)))
        continue;
      for (size_t i = 0; i < kBatch; ++i) packets[i] = TunPacket{storage[i], 0};
      auto n = queues[q]->ReadBatch(packets);
      EXPECT_TRUE(n.ok()) << "queue " << q << ": " << n.error().message();
      if (!n.ok()) return;
      full = *n == kBatch;
      std::lock_guard lock(mutex);
      for (size_t i = 0; i < *n; ++i) {
        if (on_packet(q, ByteSpan(packets[i].buf.data(), packets[i].len)))
          done = true;
      }
    }
  };
  std::vector<std::thread> readers;
  for (size_t q = 0; q < queues.size(); ++q) readers.emplace_back(read, q);
  for (std::thread& reader : readers) reader.join();
}

class LinuxTunMultiQueueTest : public ::testing::Test {
 protected:
  // Creates zl0 multi-queue, up, with 10.0.0.1/24, and `extra` more queues:
  // queues_[0] is the object CreateLinuxTun returned.
  void CreateQueues(size_t extra, bool offload = true) {
    auto tun = CreateLinuxTun(
        "zl0", kDefaultTunMtu,
        LinuxTunOptions{.offload = offload, .multi_queue = true});
    ASSERT_TRUE(tun.ok()) << tun.error().message();
    queues_.push_back(std::move(*tun));
    for (size_t i = 0; i < extra; ++i) {
      auto queue = queues_[0]->OpenQueue();
      ASSERT_TRUE(queue.ok()) << queue.error().message();
      queues_.push_back(std::move(*queue));
    }
    ASSERT_TRUE(queues_[0]->SetUp().ok());
    ASSERT_TRUE(Shell("ip addr add 10.0.0.1/24 dev zl0"));
  }
  // The queues first, then the object they were opened from.
  void DestroyQueues() {
    while (!queues_.empty()) queues_.pop_back();
  }
  void TearDown() override { DestroyQueues(); }

  Queues queues_;
};

TEST_F(LinuxTunMultiQueueTest, FlowsAreSpreadOverQueuesEachReadOnceInOrder) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  for (bool offload : {true, false}) {
    SCOPED_TRACE(offload ? "offload" : "plain");
    CreateQueues(2, offload);
    auto socket = OpenUdp(Endpoint(Ip("10.0.0.1"), 4000));
    ASSERT_TRUE(socket.ok()) << socket.error().message();
    constexpr int kFlows = 16, kPerFlow = 20;
    // Interleaved: packet i of every flow, then packet i + 1.
    for (int i = 0; i < kPerFlow; ++i) {
      for (int f = 0; f < kFlows; ++f) {
        ASSERT_TRUE(SendTo(socket->get(),
                           Endpoint(Ip(f % 2 ? "10.0.0.2" : "10.0.0.3"),
                                    static_cast<uint16_t>(5000 + f)),
                           std::to_string(i)));
      }
    }
    // Per flow: (queue, packet number), as read.
    std::map<int, std::vector<std::pair<size_t, int>>> seen;
    size_t total = 0;
    ReadQueuesConcurrently(queues_, [&](size_t q, ByteSpan packet) {
      auto p = ParsePacket(packet);
      if (!p || p->tcp || p->src_port != 4000) return false;
      const int flow = p->dst_port - 5000;
      EXPECT_TRUE(flow >= 0 && flow < kFlows) << p->dst_port;
      seen[flow].emplace_back(
          q, std::stoi(std::string(p->payload.begin(), p->payload.end())));
      return ++total == kFlows * kPerFlow;
    });
    std::set<size_t> queues_used;
    for (int f = 0; f < kFlows; ++f) {
      SCOPED_TRACE("flow " + std::to_string(f));
      const auto& packets = seen[f];
      ASSERT_EQ(packets.size(), static_cast<size_t>(kPerFlow));
      for (int i = 0; i < kPerFlow; ++i) {
        EXPECT_EQ(packets[i].second, i);                // in order, each once
        EXPECT_EQ(packets[i].first, packets[0].first);  // from one queue
      }
      queues_used.insert(packets[0].first);
    }
    // 16 flows hashed over 3 queues all land on one with odds 3^-15.
    EXPECT_GT(queues_used.size(), 1u);
    DestroyQueues();
  }
}

TEST_F(LinuxTunMultiQueueTest, OpenQueueOnASingleQueueTunIsNotSupported) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  for (bool offload : {true, false}) {
    auto tun = CreateLinuxTun("zl0", kDefaultTunMtu,
                              LinuxTunOptions{.offload = offload});
    ASSERT_TRUE(tun.ok()) << tun.error().message();
    auto queue = (*tun)->OpenQueue();
    ASSERT_FALSE(queue.ok());
    EXPECT_EQ(queue.error().code(), ENOTSUP);
    EXPECT_NE(queue.error().message().find("multi_queue"), std::string::npos)
        << queue.error().message();
  }
}

TEST_F(LinuxTunMultiQueueTest, QueuesShareNameIndexMtuAndOffloads) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  for (bool offload : {true, false}) {
    SCOPED_TRACE(offload ? "offload" : "plain");
    CreateQueues(2, offload);
    EXPECT_EQ(queues_[0]->offloads().empty(), !offload);
    ASSERT_TRUE(queues_[2]->SetMtu(1300).ok());
    for (size_t q = 0; q < queues_.size(); ++q) {
      SCOPED_TRACE("queue " + std::to_string(q));
      const auto& queue = queues_[q];
      EXPECT_EQ(queue->name(), "zl0");
      EXPECT_EQ(queue->index(), queues_[0]->index());
      EXPECT_EQ(queue->offloads(), queues_[0]->offloads());
      EXPECT_EQ(queue->Mtu().value(), 1300);
      if (q != 0) {
        EXPECT_NE(queue->waitable(), queues_[0]->waitable());
      }
    }
    // A queue of a queue is one more queue of the interface.
    auto fourth = queues_[1]->OpenQueue();
    ASSERT_TRUE(fourth.ok()) << fourth.error().message();
    EXPECT_EQ((*fourth)->index(), queues_[0]->index());
    auto link = GetTunLink(queues_[0]->index());
    ASSERT_TRUE(link.ok() && link->has_value());
    EXPECT_TRUE((*link)->multi_queue);
    EXPECT_EQ((*link)->queues, 4u);
    fourth->reset();
    DestroyQueues();
  }
}

// UDP GSO sends (a super-packet each, with USO) on 16 flows: whichever queue
// a flow lands on hands out plain datagrams no longer than the MTU, with
// checksums, and every byte.
TEST_F(LinuxTunMultiQueueTest, EveryQueueSegmentsSuperPackets) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateQueues(2);
  ASSERT_NE(queues_[0]->offloads().find("uso4"), std::string::npos)
      << queues_[0]->offloads();
  auto socket = OpenUdp(Endpoint(Ip("10.0.0.1"), 4000));
  ASSERT_TRUE(socket.ok()) << socket.error().message();
  const int segment = 1000;
  ASSERT_EQ(::setsockopt(socket->get(), SOL_UDP, UDP_SEGMENT, &segment,
                         sizeof(segment)),
            0)
      << std::strerror(errno);
  constexpr int kFlows = 16;
  const std::vector<uint8_t> sent = Payload(20 * 1000 + 77, 3);
  for (int f = 0; f < kFlows; ++f) {
    ASSERT_TRUE(
        SendTo(socket->get(),
               Endpoint(Ip("10.0.0.2"), static_cast<uint16_t>(5000 + f)),
               std::string(sent.begin(), sent.end())));
  }
  std::map<int, std::vector<uint8_t>> got;
  std::map<int, std::set<size_t>> queue_of;
  size_t bytes = 0;
  ReadQueuesConcurrently(queues_, [&](size_t q, ByteSpan packet) {
    auto p = ParsePacket(packet);
    if (!p || p->tcp || p->src_port != 4000) return false;
    EXPECT_LE(packet.size(), static_cast<size_t>(kDefaultTunMtu));
    EXPECT_TRUE(ChecksumsVerify(packet)) << "queue " << q;
    const int flow = p->dst_port - 5000;
    auto& bytes_of_flow = got[flow];
    bytes_of_flow.insert(bytes_of_flow.end(), p->payload.begin(),
                         p->payload.end());
    queue_of[flow].insert(q);
    bytes += p->payload.size();
    return bytes >= kFlows * sent.size();
  });
  std::set<size_t> queues_used;
  for (int f = 0; f < kFlows; ++f) {
    EXPECT_TRUE(got[f] == sent) << "flow " << f;
    ASSERT_EQ(queue_of[f].size(), 1u) << "flow " << f;
    queues_used.insert(*queue_of[f].begin());
  }
  EXPECT_GT(queues_used.size(), 1u);
}

TEST_F(LinuxTunMultiQueueTest, WritesThroughAnExtraQueueReachALocalSocket) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  for (bool offload : {true, false}) {
    SCOPED_TRACE(offload ? "offload" : "plain");
    CreateQueues(2, offload);
    auto socket = OpenUdp(Endpoint(Ip("10.0.0.1"), 6000));
    ASSERT_TRUE(socket.ok()) << socket.error().message();
    const Flow flow{false, false, 2, 1, 7000, 6000};
    TunDevice& queue = *queues_[1];
    ASSERT_TRUE(queue.Write(BuildPacket(flow, Payload(100, 9))).ok());
    auto got = ReceiveFrom(socket->get());
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->payload.size(), 100u);
    EXPECT_EQ(got->from, Endpoint(Ip("10.0.0.2"), 7000));

    std::vector<std::vector<uint8_t>> batch;
    for (int i = 0; i < 6; ++i)
      batch.push_back(BuildPacket(flow, Payload(500 + i, i)));
    std::vector<MutableByteSpan> spans(batch.begin(), batch.end());
    EXPECT_EQ(queues_[2]->WriteBatch(spans), 0u);
    for (int i = 0; i < 6; ++i) {
      auto d = ReceiveFrom(socket->get());
      ASSERT_TRUE(d.has_value()) << i;
      const std::vector<uint8_t> want = Payload(500 + i, i);
      EXPECT_EQ(d->payload, std::string(want.begin(), want.end())) << i;
    }
    DestroyQueues();
  }
}

// The kernel's flow steering (automq): a queue that writes a flow's packets
// gets the packets of that flow going the other way, for a few seconds.
TEST_F(LinuxTunMultiQueueTest, AFlowIsReadFromTheQueueThatWroteItsReverse) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateQueues(2);
  for (size_t q = 0; q < queues_.size(); ++q) {
    for (uint16_t port = 0; port < 4; ++port) {
      SCOPED_TRACE("queue " + std::to_string(q) + " port " +
                   std::to_string(port));
      const uint16_t local = static_cast<uint16_t>(6000 + 10 * q + port);
      const uint16_t remote = static_cast<uint16_t>(7000 + 10 * q + port);
      auto socket = OpenUdp(Endpoint(Ip("10.0.0.1"), local));
      ASSERT_TRUE(socket.ok()) << socket.error().message();
      ASSERT_TRUE(queues_[q]
                      ->Write(BuildPacket(
                          Flow{false, false, 2, 1, remote, local}, Payload(10)))
                      .ok());
      auto got = ReceiveFrom(socket->get());
      ASSERT_TRUE(got.has_value());
      ASSERT_TRUE(SendTo(socket->get(), got->from, "reply"));
      std::set<size_t> read_on;
      ReadQueuesConcurrently(queues_, [&](size_t from, ByteSpan packet) {
        auto p = ParsePacket(packet);
        if (!p || p->tcp || p->src_port != local) return false;
        read_on.insert(from);
        return true;
      });
      EXPECT_EQ(read_on, std::set<size_t>{q});
    }
  }
}

TEST_F(LinuxTunMultiQueueTest, InterfaceStaysUntilItsLastQueueIsDestroyed) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateQueues(2);
  const int index = queues_[0]->index();
  queues_.pop_back();
  EXPECT_EQ(InterfaceIndex("zl0").value(), index);
  queues_.pop_back();
  EXPECT_EQ(InterfaceIndex("zl0").value(), index);
  queues_.pop_back();
  auto gone = InterfaceIndex("zl0");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ENODEV);
}

// Not the contract's order, but safe here: a queue does not refer to the
// object it was opened from, and keeps the interface.
TEST_F(LinuxTunMultiQueueTest, QueueOutlivingTheFirstObjectKeepsWorking) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateQueues(1);
  const int index = queues_[0]->index();
  queues_[0].reset();
  EXPECT_EQ(InterfaceIndex("zl0").value(), index);
  auto socket = OpenUdp(Endpoint(Ip("10.0.0.1"), 6000));
  ASSERT_TRUE(socket.ok()) << socket.error().message();
  ASSERT_TRUE(queues_[1]
                  ->Write(BuildPacket(Flow{false, false, 2, 1, 7000, 6000},
                                      Payload(10)))
                  .ok());
  EXPECT_TRUE(ReceiveFrom(socket->get()).has_value());
  queues_.clear();
  EXPECT_FALSE(InterfaceIndex("zl0").ok());
}

TEST_F(LinuxTunMultiQueueTest, OpenQueueAfterTheInterfaceIsDeletedFails) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  CreateQueues(0);
  ASSERT_TRUE(Shell("ip link del zl0"));
  auto queue = queues_[0]->OpenQueue();
  ASSERT_FALSE(queue.ok());
  EXPECT_EQ(queue.error().code(), ENODEV) << queue.error().message();
  EXPECT_NE(queue.error().message().find("open TUN queue of zl0"),
            std::string::npos)
      << queue.error().message();
  // Attaching by name made a new zl0 for a moment; it is gone again.
  EXPECT_FALSE(InterfaceIndex("zl0").ok());
}

TEST_F(LinuxTunMultiQueueTest, QueueModeOfAPersistentTunMustMatch) {
  ZL_ENTER_PRIVATE_NETNS_OR_SKIP();
  ASSERT_TRUE(Shell("ip tuntap add dev zls0 mode tun"));
  ASSERT_TRUE(Shell("ip tuntap add dev zlm0 mode tun multi_queue"));
  const LinuxTunOptions multi{.multi_queue = true};

  auto single_as_multi = CreateLinuxTun("zls0", kDefaultTunMtu, multi);
  ASSERT_FALSE(single_as_multi.ok());
  EXPECT_EQ(single_as_multi.error().code(), EINVAL);
  EXPECT_NE(single_as_multi.error().message().find("is single-queue"),
            std::string::npos)
      << single_as_multi.error().message();

  auto multi_as_single = CreateLinuxTun("zlm0");
  ASSERT_FALSE(multi_as_single.ok());
  EXPECT_EQ(multi_as_single.error().code(), EINVAL);
  EXPECT_NE(multi_as_single.error().message().find("is multi-queue"),
            std::string::npos)
      << multi_as_single.error().message();

  // Reused in its own mode; once attached, it is ours alone.
  auto reused = CreateLinuxTun("zlm0", kDefaultTunMtu, multi);
  ASSERT_TRUE(reused.ok()) << reused.error().message();
  auto queue = (*reused)->OpenQueue();
  ASSERT_TRUE(queue.ok()) << queue.error().message();
  auto again = CreateLinuxTun("zlm0", kDefaultTunMtu, multi);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), EBUSY) << again.error().message();
  queue->reset();
  reused->reset();
  EXPECT_TRUE(InterfaceIndex("zlm0").ok());  // persistent

  // A non-TUN name stays EBUSY in both modes.
  auto lo = CreateLinuxTun("lo", kDefaultTunMtu, multi);
  ASSERT_FALSE(lo.ok());
  EXPECT_EQ(lo.error().code(), EBUSY) << lo.error().message();

  EXPECT_TRUE(Shell("ip tuntap del dev zls0 mode tun"));
  EXPECT_TRUE(Shell("ip tuntap del dev zlm0 mode tun multi_queue"));
}

}  // namespace
}  // namespace zl::net
