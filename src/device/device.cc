#include "device/device.h"

#include <algorithm>
#include <list>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "base/mutex.h"
#include "base/thread_name.h"
#include "device/apply_plan.h"
#include "device/batch_runner.h"
#include "device/flow_queue.h"
#include "device/handshake_queue.h"
#include "device/queue_reader.h"
#include "device/verbose_log.h"
#include "net/bind.h"
#if defined(__linux__)
#include "net/netlink.h"  // the link watcher: Linux only (see Impl::link)
#endif
#include "wg/engine.h"

namespace zl::device {
namespace {

// Largest IP packet the TUN can hand us, plus WireGuard's overhead (16 B
// header, up to 15 B padding, 16 B tag).
constexpr size_t kMaxPacket = 65535;
constexpr size_t kTransportHeader = 16;
constexpr uint8_t kTransportDataType = 4;  // a transport data message's first byte
constexpr size_t kTransportOverhead = kTransportHeader + 16;  // header + tag
constexpr size_t kMaxDatagram = kMaxPacket + kTransportOverhead + 16;
// UDP GRO hands over at most this many datagrams in one receive slot (the
// kernel's UDP_GRO_CNT_MAX); sizes the per-batch state of a receive batch.
constexpr size_t kMaxSegmentsPerSlot = 64;
// Batches handled per wake-up before yielding to the other sources, so one
// busy direction cannot starve the other.
constexpr int kBatchesPerWakeup = 4;
// Handshake messages a handshake worker takes from its queue at a time (at
// most: the queue gives each worker its share).
constexpr size_t kHandshakeBatch = 64;
// The engine's own datagrams a sink holds before it sends them: at most
// this many, in an arena of this many bytes (a completed handshake releases
// up to staged_packets_per_peer at once; a full sink sends at once).
constexpr size_t kSinkItems = 128;
constexpr size_t kSinkArena = 256 * 1024;
static_assert(kSinkArena >= kMaxDatagram);
// Data-path batches of fewer packets stay on the loop thread; bigger ones
// are shared with the crypto workers, which claim this many at a time.
constexpr size_t kMinSplitBatch = 8;
constexpr size_t kSplitChunk = 4;
// At most this many data threads and handshake workers.
constexpr size_t kMaxThreads = 8;
// How long the loop waits for a handshake worker to send the staged packets
// it holds before it sends a batch's own (then it goes on: a bound, not an
// expected wait; the worker sends them right after its engine call).
constexpr auto kStagedSendsWait = std::chrono::milliseconds(10);

// The engine never sheds by source itself: the device sheds at its
// handshake queue instead, only when the queue is more than half full
// (handshake_queue.h). A billion a second, four billion back to back: never
// reached, and tolerant of the clock readings of several threads.
wg::EngineOptions DeviceEngineOptions() {
  wg::EngineOptions o;
  o.handshakes_per_second_per_source_under_load = 1'000'000'000;
  o.handshake_burst_per_source_under_load = UINT32_MAX;
  return o;
}

unsigned HardwareThreads() {
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware == 0 ? 1 : hardware;
}

// DeviceOptions::handshake_workers: 0 = min(2, hardware threads).
size_t ThreadCount(size_t wanted) {
  if (wanted == 0) wanted = std::min<size_t>(2, HardwareThreads());
  return std::min(wanted, kMaxThreads);
}

// DeviceOptions::data_threads: 0 = 2 with 3 or more hardware threads, else
// 1. On 2 cores shared with the application and the kernel, a crypto worker
// cost more than it brought: bench/tunnel.sh, both tunnel ends and iperf3 on
// one 2-core machine, measured 0.85-0.88x the TCP throughput at 1.2-1.25x
// the CPU per GB with 2 data threads (docs/BENCHMARKS.md).
size_t DataThreadCount(size_t wanted) {
  if (wanted == 0) wanted = HardwareThreads() >= 3 ? 2 : 1;
  return std::min(wanted, kMaxThreads);
}

// DeviceOptions::tun_queues: 0 or 1 = one queue, at most 8.
size_t TunQueueCount(size_t wanted) { return std::clamp<size_t>(wanted, 1, kMaxThreads); }

}  // namespace

// Counters of the glue itself (the engine counts protocol drops), bumped
// from every thread.
struct GlueCounters {
  std::atomic<uint64_t> tun_write_errors{0};
  std::atomic<uint64_t> send_errors{0};
  std::atomic<uint64_t> send_dropped_full{0};
  std::atomic<uint64_t> queue_packets{0};  // read by the queue readers
};

// Sends `items` in order without blocking: an item that cannot be sent is
// skipped, and when the socket buffer is full the rest are dropped rather
// than block, as a congested link would drop them.
void SendAll(net::Bind& bind, std::span<const net::SendItem> items, GlueCounters& counters) {
  while (!items.empty()) {
    auto sent = bind.Send(items);
    if (!sent.ok()) {
      // items[0] cannot be sent (no route, wrong family...): skip it.
      counters.send_errors.fetch_add(1, std::memory_order_relaxed);
      items = items.subspan(1);
      continue;
    }
    if (*sent == 0) {
      counters.send_dropped_full.fetch_add(items.size(), std::memory_order_relaxed);
      break;
    }
    items = items.subspan(*sent);
  }
}

struct Device::Impl final : public BatchJob {
  Impl(net::EventLoop& l, std::unique_ptr<net::TunDevice> t, std::unique_ptr<net::Bind> b,
       const Clock& c, crypto::Rng& r, DeviceOptions o)
      : loop(l),
        tun(std::move(t)),
        bind(std::move(b)),
        clock(c),
        rng(r),
        engine(DeviceEngineOptions(), r),
        options(std::move(o)),
        handshake_worker_count(ThreadCount(options.handshake_workers)),
        handshakes(options.handshake_queue_size, options.handshake_shed_per_second_per_source,
                   options.handshake_shed_burst_per_source, NewShedderKey(r),
                   handshake_worker_count),
        runner(RunnerOptions(options)) {
    const size_t n = batch_size();
    recv_bufs.assign(n, std::vector<uint8_t>(kMaxDatagram));
    recv_slots.resize(n);
    for (size_t i = 0; i < n; ++i) recv_slots[i].buf = MutableByteSpan(recv_bufs[i]);
    datagrams.reserve(n * kMaxSegmentsPerSlot);
    deliveries.reserve(n * kMaxSegmentsPerSlot);
    for (size_t t = 0; t <= runner.workers(); ++t) {
      data_sinks.push_back(
          std::make_unique<Sink>(*this, t == 0 ? Sink::Role::kLoop : Sink::Role::kCryptoWorker));
    }
    // A batch's datagrams after every data sink's own.
    batch_sends.reserve(data_sinks.size() * kSinkItems + n);
    loop_queue = std::make_unique<TunQueue>(*tun, 0, n, data_sinks, true);
    for (size_t i = 0; i < handshake_worker_count; ++i) {
      handshake_workers.push_back(std::make_unique<HandshakeWorker>(*this));
    }
  }

  size_t batch_size() const {
    return options.batch_size == 0 ? 1 : std::min(options.batch_size, net::kMaxBatchSize);
  }

  static BatchRunnerOptions RunnerOptions(const DeviceOptions& o) {
    BatchRunnerOptions r;
    r.workers = DataThreadCount(o.data_threads) - 1;
    r.min_split = 1;  // RunSplit decides
    r.chunk = kSplitChunk;
    r.worker_first_for_testing = o.crypto_worker_first_for_testing;
    return r;
  }

  // Every engine call, on every thread, goes through here. The engine is
  // callable from several threads at once (wg/engine.h, "Thread safety":
  // its own lock for bookkeeping, seal/open outside it). Never called with
  // names_mu or bind_mu held: the sinks take those inside engine calls.
  template <typename F>
  auto CallEngine(F&& call) EXCLUDES(names_mu, bind_mu) {
    return call(engine);
  }

  // A thread's wg::PacketSink for its engine calls. The engine's own
  // datagrams (handshakes, keepalives, staged packets; their bytes are valid
  // only during the call) are copied into an arena and sent by Flush, or at
  // once when the arena is full; WriteToTun writes at once; OnEvent logs
  // (verbose). Used by one thread at a time: its owner, or the loop thread
  // after a batch's join. Sink calls come inside engine calls.
  struct Sink final : public wg::PacketSink {
    enum class Role { kLoop, kCryptoWorker, kHandshakeWorker, kQueueReader };

    Sink(Impl& impl, Role r) : d(impl), role(r) {
      arena.resize(kSinkArena);
      items.reserve(kSinkItems);
    }

    void SendToNetwork(wg::PeerId, const wg::Path& to, ByteSpan data) override {
      if (data.size() > kMaxDatagram) return;
      if (items.size() == kSinkItems || arena.size() - used < data.size()) Flush();
      uint8_t* at = arena.data() + used;
      std::copy(data.begin(), data.end(), at);
      used += data.size();
      items.push_back(net::SendItem{to.remote, ByteSpan(at, data.size()), to.local});
      // A handshake worker's transport data: packets staged during the
      // handshake, released by it. Counted before the engine lets any other
      // thread use the new session, so the loop sees them (see
      // WaitForStagedSends).
      if (role == Role::kHandshakeWorker && !data.empty() && data[0] == kTransportDataType) {
        ++held_transport;
        d.staged_sends_held.fetch_add(1, std::memory_order_relaxed);
      }
    }

    // The TUN takes writes from any thread (tun_device.h).
    void WriteToTun(wg::PeerId, ByteSpan packet) override {
      if (!d.tun->Write(packet).ok()) {
        d.glue.tun_write_errors.fetch_add(1, std::memory_order_relaxed);
      }
    }

    // Handshake-rate events, but cookie replies answer anyone under load.
    void OnEvent(const wg::EngineEventInfo& info) override {
      if (GetLogLevel() < LogLevel::kVerbose) return;
      if (info.event == wg::EngineEvent::kCookieReplySent &&
          !log_budget.Allow(d.clock.Read().mono)) {
        return;
      }
      // Events during a peer update (a keepalive turned on starts a
      // handshake) follow the update's own lines.
      if (hold_events) {
        held_events.push_back(info);
        return;
      }
      MutexLock lock(d.names_mu);
      LogEngineEvent(d.peer_names, info);
    }

    // Sends what the sink holds.
    void Flush() {
      if (items.empty()) return;
      d.Send(role, items);
      Clear();
      if (held_transport > 0) {
        d.staged_sends_held.fetch_sub(held_transport, std::memory_order_release);
        held_transport = 0;
      }
    }
    // Forgets what it holds (after the loop sent it).
    void Clear() {
      items.clear();
      used = 0;
    }

    Impl& d;
    const Role role;
    std::vector<uint8_t> arena;
    size_t used = 0;  // of arena
    std::vector<net::SendItem> items;
    size_t held_transport = 0;  // of items, counted in staged_sends_held
    LogBudget log_budget;  // the owning thread's
    // The loop's sink only: events held while a peer update is applied.
    bool hold_events = false;
    std::vector<wg::EngineEventInfo> held_events;
  };

  Sink& loop_sink() { return *data_sinks[0]; }

  // Sends `items` as a thread of `role`. Only the loop thread sends without
  // bind_mu (it is the one that rebinds).
  void Send(Sink::Role role, std::span<const net::SendItem> items) EXCLUDES(bind_mu) {
    if (role == Sink::Role::kLoop) {
      SendAll(*bind, items, glue);
    } else {
      MutexLock lock(bind_mu);
      SendAll(*bind, items, glue);
    }
  }

  // One TUN queue's read-and-encrypt path: its buffers (a packet is read at
  // offset 16 of a datagram-sized buffer, so Encapsulate writes the datagram
  // around it in place), the engine's results, what its batch sends, and
  // the sinks of the threads that encrypt it, [0] the one that reads and
  // sends. Queue 0 is the loop thread's: its big batches are shared with
  // the crypto workers (`split`; sinks: data_sinks). Queues 1.. are a queue
  // reader's each: one thread, one sink of its own. Used by one thread at a
  // time (a split batch's slots each by the data thread that took it).
  struct TunQueue {
    TunQueue(net::TunDevice& t, size_t i, size_t batch,
             std::span<const std::unique_ptr<Sink>> s, bool may_split)
        : tun(t), index(i), sinks(s), split(may_split) {
      bufs.assign(batch, std::vector<uint8_t>(kMaxDatagram));
      slots.resize(batch);
      for (size_t k = 0; k < batch; ++k) {
        slots[k].buf = MutableByteSpan(bufs[k].data() + kTransportHeader, kMaxPacket);
      }
      results.resize(batch);
      sends.reserve(sinks.size() * kSinkItems + batch);
    }

    net::TunDevice& tun;
    const size_t index;
    const std::span<const std::unique_ptr<Sink>> sinks;
    const bool split;
    std::vector<std::vector<uint8_t>> bufs;
    std::vector<net::TunPacket> slots;
    std::vector<wg::EncapsulateResult> results;  // per slot
    std::vector<net::SendItem> sends;
    Now now;  // the batch in hand's
  };

  // --- data path ---

  // Queue 0, on the loop thread: reads and encrypts (ReadQueue); a full
  // last batch posts the continuation instead of waiting for readiness.
  void OnTunReadable() {
    switch (ReadQueue(*loop_queue)) {
      case QueueReader::Drained::kWait:
        return;
      case QueueReader::Drained::kMore:
        PostTunContinuation();
        return;
      case QueueReader::Drained::kStop:
        TunGone();
        return;
    }
  }

  // Queues 1.., each on its queue reader's thread. A queue that ends tells
  // the loop, which reports the TUN gone (once; its own queue or the link
  // watcher usually sees it too).
  QueueReader::Drained ReadExtraQueue(TunQueue& q) {
    const QueueReader::Drained next = ReadQueue(q);
    if (next == QueueReader::Drained::kStop) {
      loop.Post([this, alive = alive] {
        if (!alive->load(std::memory_order_acquire)) return;  // closed meanwhile
        MarkLoopThread();
        TunGone();
      });
    }
    return next;
  }

  // Reads and encrypts up to kBatchesPerWakeup batches of queue `q`, each
  // sent before the next ReadBatch reuses its buffers. A full batch means
  // more may be waiting that the queue's waitable does not signal (the rest
  // of an offloaded super-packet): a full last batch answers kMore. An
  // empty queue answers kWait; a failed read (the interface gone, normally)
  // kStop.
  QueueReader::Drained ReadQueue(TunQueue& q) {
    for (int round = 0; round < kBatchesPerWakeup; ++round) {
      auto n = q.tun.ReadBatch(q.slots);
      if (!n.ok()) {
        if (n.error().code() == EAGAIN) return QueueReader::Drained::kWait;
        // The interface was deleted (`ip link del`, wg-quick down, Wintun's
        // adapter removed): a normal way to end; anything else is an error.
        const std::string queue = q.index == 0 ? "" : fmt::format("TUN queue {}: ", q.index);
        if (net::IsTunGone(n.error())) {
          LogVerbose(queue + "interface deleted, shutting down");
        } else {
          LogError(queue + "TUN read failed: " + n.error().message());
        }
        return QueueReader::Drained::kStop;
      }
      if (*n == 0) return QueueReader::Drained::kWait;
      if (q.index > 0) glue.queue_packets.fetch_add(*n, std::memory_order_relaxed);
      EncapsulateBatch(q, *n);
      if (*n < q.slots.size()) return QueueReader::Drained::kWait;
    }
    return QueueReader::Drained::kMore;
  }

  // Encrypts the first `n` slots of `q` in place (queue 0: on the data
  // threads), then sends, in this order: the engine's own datagrams (the
  // queue's sinks in thread order), then the batch's datagrams in the order
  // they were read.
  void EncapsulateBatch(TunQueue& q, size_t n) {
    q.now = clock.Read();
    Sink& sink = *q.sinks[0];
    if (!q.split || n < kMinSplitBatch || runner.workers() == 0) {
      EncapsulateSlots(q, sink, 0, n);
    } else {
      // The first packet alone: when its peer has no session, the engine
      // stages it, and packets staged by two threads at once would be staged
      // (and later sent) in the order the threads came, not the batch's. So
      // such a batch stays on the loop thread (a handshake is under way: no
      // matter of throughput). A limit: a split batch for several peers may
      // still stage a session-less peer's packets out of order.
      EncapsulateSlots(q, sink, 0, 1);
      if (q.results[0].kind == wg::EncapsulateResult::Kind::kQueued) {
        EncapsulateSlots(q, sink, 1, n);
      } else {
        batch_kind = BatchKind::kEncapsulate;
        RunSplit(1, n);
      }
    }
    const bool verbose = GetLogLevel() >= LogLevel::kVerbose;
    TakeSinkSends(q.sinks, q.sends);
    for (size_t i = 0; i < n; ++i) {
      const wg::EncapsulateResult& r = q.results[i];
      if (r.kind == wg::EncapsulateResult::Kind::kSent) {
        q.sends.push_back(
            net::SendItem{r.to.remote, ByteSpan(q.bufs[i].data(), r.length), r.to.local});
      } else if (r.kind == wg::EncapsulateResult::Kind::kDropped && verbose &&
                 sink.log_budget.Allow(q.now.mono)) {
        LogVerbose(fmt::format("{}dropped a packet for the tunnel: {}", PeerName(r.peer),
                               wg::DropReasonName(r.drop)));
      }
    }
    WaitForStagedSends();
    SendBatch(q.sinks, q.sends);
  }

  // Slots [begin, end) of `q`, in place (the packet sits at offset 16 of its
  // datagram buffer), with `sink`, its thread's.
  void EncapsulateSlots(TunQueue& q, Sink& sink, size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      ByteSpan packet(q.slots[i].buf.data(), q.slots[i].len);
      MutableByteSpan out(q.bufs[i]);
      q.results[i] =
          CallEngine([&](wg::Engine& e) { return e.Encapsulate(packet, out, q.now, sink); });
    }
  }

  // A handshake worker that completed a handshake holds the packets staged
  // for it until its engine call returns; a batch encrypted with the new
  // session meanwhile must not overtake them (a peer's packets keep their
  // order). It sends them at once: wait for that, briefly.
  void WaitForStagedSends() {
    if (staged_sends_held.load(std::memory_order_acquire) == 0) return;
    const auto deadline = std::chrono::steady_clock::now() + kStagedSendsWait;
    while (staged_sends_held.load(std::memory_order_acquire) > 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }

  // Items [first, end) of the batch in hand on all data threads.
  void RunSplit(size_t first, size_t end) {
    batch_first = first;
    runner.Run(end - first, *this);
    batch_first = 0;
  }

  // BatchJob: items [begin, end) of the batch in hand (after batch_first),
  // on data thread `thread`: queue 0's TUN slots or a receive batch's
  // datagrams.
  void Process(size_t thread, size_t begin, size_t end) override {
    begin += batch_first;
    end += batch_first;
    Sink& sink = *data_sinks[thread];
    if (batch_kind == BatchKind::kEncapsulate) {
      EncapsulateSlots(*loop_queue, sink, begin, end);
    } else {
      const Now now = batch_now;
      for (size_t i = begin; i < end; ++i) {
        Datagram& d = datagrams[i];
        const net::RecvSlot& slot = recv_slots[d.slot];
        const wg::Path from{slot.from, slot.local};
        d.result = CallEngine(
            [&](wg::Engine& e) { return e.Decapsulate(from, d.bytes, now, sink); });
      }
    }
  }

  // Moves `sinks`' datagrams (in thread order) to `sends`.
  static void TakeSinkSends(std::span<const std::unique_ptr<Sink>> sinks,
                            std::vector<net::SendItem>& sends) {
    sends.clear();
    for (const auto& sink : sinks) {
      sends.insert(sends.end(), sink->items.begin(), sink->items.end());
    }
  }

  // Sends `sends` in one go, as `sinks[0]`'s thread, then forgets it and
  // the sinks' datagrams.
  void SendBatch(std::span<const std::unique_ptr<Sink>> sinks,
                 std::vector<net::SendItem>& sends) {
    if (!sends.empty()) Send(sinks[0]->role, sends);
    sends.clear();
    for (const auto& sink : sinks) sink->Clear();
  }

  // Runs OnTunReadable again on a later loop turn (other sources first).
  void PostTunContinuation() {
    if (tun_continuation_posted) return;
    tun_continuation_posted = true;
    loop.Post([this, alive = alive] {
      if (!alive->load(std::memory_order_acquire)) return;  // closed meanwhile
      MarkLoopThread();
      tun_continuation_posted = false;
      if (!tun_gone_reported) OnTunReadable();
    });
  }

  // Receives up to kBatchesPerWakeup batches. A slot may hold several
  // datagrams (UDP GRO: RecvSlot::segment_size). Handshake messages are
  // copied to the handshake queue for the workers; the rest are decrypted in
  // place on the data threads (not at all for a batch of handshakes only),
  // and a batch's packets go to the TUN in one WriteBatch, in the order
  // they were received, before the next Receive reuses the buffers.
  void OnUdpReadable(IpAddress::Family family) {
    for (int round = 0; round < kBatchesPerWakeup; ++round) {
      auto n = bind->Receive(family, recv_slots);
      if (!n.ok() || *n == 0) break;
      const MonoTime arrived = clock.Read().mono;
      bool queued = false;
      datagrams.clear();
      for (size_t i = 0; i < *n; ++i) {
        const net::RecvSlot& slot = recv_slots[i];
        const size_t segment = slot.segment_size > 0 && slot.segment_size < slot.len
                                   ? slot.segment_size
                                   : slot.len;
        size_t offset = 0;
        do {
          const size_t len = std::min(segment, slot.len - offset);
          MutableByteSpan datagram(slot.buf.data() + offset, len);
          if (IsHandshakeMessage(datagram)) {
            // Dropped when full or shed: the queue counts it.
            queued |= handshakes.TryPush(datagram, slot.from, slot.local, arrived);
          } else {
            datagrams.push_back(Datagram{datagram, i, {}});
          }
          offset += len;
        } while (offset < slot.len);
      }
      if (queued) handshakes.Notify();
      if (!datagrams.empty()) DecapsulateBatch();
      if (*n < recv_slots.size()) break;
    }
  }

  // Decrypts `datagrams` in place (on the data threads); the packets to
  // deliver go to the TUN in one WriteBatch, then the engine's own
  // datagrams are sent (data sinks in thread order).
  void DecapsulateBatch() {
    batch_kind = BatchKind::kDecapsulate;
    batch_now = clock.Read();
    if (datagrams.size() < kMinSplitBatch || runner.workers() == 0) {
      Process(0, 0, datagrams.size());
    } else {
      RunSplit(0, datagrams.size());
    }
    const bool verbose = GetLogLevel() >= LogLevel::kVerbose;
    deliveries.clear();
    for (const Datagram& d : datagrams) {
      if (d.result.kind == wg::DecapsulateResult::Kind::kDeliver) {
        deliveries.push_back(d.result.packet);
      } else if (verbose) {
        LogDecapsulate(d.result, recv_slots[d.slot].from, batch_now, loop_sink().log_budget);
      }
    }
    if (!deliveries.empty()) WriteDeliveries();
    TakeSinkSends(data_sinks, batch_sends);
    SendBatch(data_sinks, batch_sends);
  }

  // Writes `deliveries` to the TUN. With several queues, each flow's
  // packets go through the queue QueueOfFlow gives it (one WriteBatch per
  // queue, each flow's packets in their order), so the kernel steers each
  // flow's outgoing packets to that queue's reader (flow_queue.h).
  void WriteDeliveries() {
    if (extra_queues.empty()) {
      glue.tun_write_errors.fetch_add(tun->WriteBatch(deliveries), std::memory_order_relaxed);
      return;
    }
    const size_t queues = extra_queues.size() + 1;
    queue_deliveries.resize(queues);
    for (auto& q : queue_deliveries) q.clear();
    for (const MutableByteSpan& packet : deliveries) {
      queue_deliveries[QueueOfFlow(packet, queues)].push_back(packet);
    }
    for (size_t i = 0; i < queues; ++i) {
      if (queue_deliveries[i].empty()) continue;
      net::TunDevice& through = i == 0 ? *tun : *extra_queues[i - 1]->tun;
      glue.tun_write_errors.fetch_add(through.WriteBatch(queue_deliveries[i]),
                                      std::memory_order_relaxed);
    }
  }

  // --- verbose logging (LOG_LEVEL=verbose); never a key but public ones ---

  // "peer(AbCd…wXyZ): " as wireguard-go names peers, or "" for none.
  std::string PeerName(wg::PeerId id) EXCLUDES(names_mu) {
    MutexLock lock(names_mu);
    return peer_names.Prefix(id);
  }

  // `budget`: the calling thread's.
  void LogDecapsulate(const wg::DecapsulateResult& r, const Endpoint& from, Now now,
                      LogBudget& budget) {
    // Handshake messages are told by OnEvent.
    using Kind = wg::DecapsulateResult::Kind;
    if (r.kind == Kind::kKeepalive) {
      LogVerbose(fmt::format("{}keepalive received", PeerName(r.peer)));
    } else if (r.kind == Kind::kDropped && budget.Allow(now.mono)) {
      LogVerbose(fmt::format("{}dropped a datagram from {}: {}", PeerName(r.peer),
                             from.ToString(), wg::DropReasonName(r.drop)));
    }
  }

  void OnTick() {
    const Now now = clock.Read();
    CallEngine([&](wg::Engine& e) { e.Tick(now, loop_sink()); });
    loop_sink().Flush();
  }

#if defined(__linux__)
  void OnLinkEvents() {
    auto events = link->ReadEvents();
    if (!events.ok()) return;
    for (const auto& e : *events) {
      if (e.kind == net::LinkEvent::Kind::kDeleted) {
        TunGone();
        return;
      }
      if (e.link.mtu > 0) {
        mtu = e.link.mtu;
        CallEngine([&](wg::Engine& eng) { eng.SetMtu(mtu); });
      }
    }
  }
#endif

  void TunGone() {
    if (tun_gone_reported) return;
    tun_gone_reported = true;
    loop.Unwatch(tun->waitable());
    if (options.on_tun_gone) options.on_tun_gone();
  }

  // --- watching ---

  Result<void> WatchSockets() {
    for (auto family : {IpAddress::Family::kV4, IpAddress::Family::kV6}) {
      net::Waitable w = bind->waitable(family);
      if (w == net::kNoWaitable) continue;
      ZL_RETURN_IF_ERROR(loop.Watch(w, net::kReadable, [this, family](uint32_t) {
        MarkLoopThread();
        OnUdpReadable(family);
      }));
    }
    return Ok();
  }

  void UnwatchSockets() {
    for (auto family : {IpAddress::Family::kV4, IpAddress::Family::kV6}) {
      if (net::Waitable w = bind->waitable(family); w != net::kNoWaitable) loop.Unwatch(w);
    }
  }

  // --- control (loop thread) ---

  // The interface part of a set: private key, listen port, fwmark. Notes
  // the first error in `first_error` and goes on, as wireguard-go does.
  // Verbose logs tell each change, never the private key itself.
  void ApplyInterfaceOnLoop(const ConfigRequest& req, std::optional<Error>& first_error) {
    Now now = clock.Read();
    const bool verbose = GetLogLevel() >= LogLevel::kVerbose;
    auto note = [&](const Error& e) {
      if (verbose) LogVerbose("configuration change failed: " + e.message());
      if (!first_error) first_error = e;
    };
    if (req.private_key) {
      std::optional<crypto::PrivateKey> key;
      if (!req.private_key->IsZero()) key = *req.private_key;
      const auto old_public = CallEngine([](wg::Engine& e) { return e.public_key(); });
      auto r = CallEngine([&](wg::Engine& e) { return e.SetPrivateKey(key, now); });
      if (!r.ok()) note(r.error());
      const auto new_public = CallEngine([](wg::Engine& e) { return e.public_key(); });
      if (verbose && new_public != old_public) {
        LogVerbose(new_public ? "private key updated; public key now " + ShortKey(*new_public)
                              : std::string("private key cleared"));
      }
    }
    if (req.listen_port && *req.listen_port != bind->port()) {
      UnwatchSockets();
      auto r = [&] {
        MutexLock lock(bind_mu);  // not while another thread sends
        return bind->Rebind(*req.listen_port);
      }();
      if (!r.ok()) {
        note(r.error().Wrap(fmt::format("listen-port {}", *req.listen_port)));
      } else if (verbose) {
        LogVerbose(fmt::format("listen port changed to {}", bind->port()));
      }
      if (auto w = WatchSockets(); !w.ok()) note(w.error());
    }
    if (req.fwmark) {
      auto r = [&] {
        MutexLock lock(bind_mu);
        return bind->SetFwmark(*req.fwmark);
      }();
      if (!r.ok()) {
        note(r.error().Wrap("fwmark"));
      } else {
        if (verbose && fwmark != *req.fwmark) {
          LogVerbose(*req.fwmark == 0 ? std::string("fwmark cleared")
                                      : fmt::format("fwmark set to {:#x}", *req.fwmark));
        }
        fwmark = *req.fwmark;
      }
    }
    if (req.private_key) {
      if (req.private_key->IsZero()) {
        private_key_for_get.reset();
      } else {
        private_key_for_get = *req.private_key;
      }
    }
  }

  // One step of a set's peer blocks (apply_plan.h).
  void ApplyPeersOnLoop(const ConfigRequest& req, const ApplyStep& step,
                        std::optional<Error>& first_error) {
    const Now now = clock.Read();
    const bool verbose = GetLogLevel() >= LogLevel::kVerbose;
    Sink& sink = loop_sink();
    for (const PeerSlice& slice : step) {
      const wg::PeerUpdate update = ToPeerUpdate(req.peers[slice.peer], slice);
      auto find = [&](wg::Engine& e) { return e.FindPeerId(update.public_key); };
      const wg::PeerId before = verbose ? CallEngine(find) : wg::kNoPeer;
      sink.hold_events = verbose;
      auto r = CallEngine([&](wg::Engine& e) { return e.ApplyPeerUpdate(update, now, sink); });
      sink.hold_events = false;
      if (!r.ok() && !first_error) first_error = r.error();
      if (verbose) NoteAppliedPeerUpdate(update, before, CallEngine(find), r);
    }
    sink.Flush();
  }

  void NoteAppliedPeerUpdate(const wg::PeerUpdate& update, wg::PeerId before, wg::PeerId after,
                             const Result<void>& result) EXCLUDES(names_mu) {
    MutexLock lock(names_mu);
    if (before != wg::kNoPeer && after != before) peer_names.Remove(before);
    if (after != wg::kNoPeer) peer_names.Add(after, update.public_key);
    LogPeerUpdate(ShortPeerName(update.public_key), update,
                  PeerChange{before != wg::kNoPeer, after != wg::kNoPeer}, result);
    for (const auto& info : loop_sink().held_events) LogEngineEvent(peer_names, info);
    loop_sink().held_events.clear();
  }

  // A set in steps of bounded work, each a loop turn of its own (on the loop
  // thread they simply run one after the other): the interface settings,
  // the old peers' removal for replace_peers, then the peer blocks. Returns
  // the first error of the request, or the error that stopped it.
  Result<void> ApplyInSteps(const ConfigRequest& req) {
    std::optional<Error> first_error;
    ZL_RETURN_IF_ERROR(RunOnLoop([&] { ApplyInterfaceOnLoop(req, first_error); }));
    if (req.replace_peers) {
      size_t left = 0;
      bool first = true;
      do {
        ZL_RETURN_IF_ERROR(RunOnLoop([&] {
          if (first && GetLogLevel() >= LogLevel::kVerbose) {
            const size_t peers = CallEngine([](wg::Engine& e) { return e.peer_count(); });
            LogVerbose(fmt::format("removing all {} peers (replace_peers)", peers));
            MutexLock lock(names_mu);
            peer_names.Clear();
          }
          first = false;
          left = CallEngine([](wg::Engine& e) { return e.RemovePeersUpTo(kPeersRemovedPerStep); });
        }));
      } while (left > 0);
    }
    for (const ApplyStep& step : PlanApplySteps(req)) {
      ZL_RETURN_IF_ERROR(RunOnLoop([&] { ApplyPeersOnLoop(req, step, first_error); }));
    }
    if (first_error) return *first_error;
    return Ok();
  }

  DeviceState SnapshotOnLoop() {
    DeviceState s;
    s.private_key = private_key_for_get;
    s.listen_port = bind->port();
    s.fwmark = fwmark;
    std::vector<wg::PeerSnapshot> peers = CallEngine([](wg::Engine& e) { return e.Snapshot(); });
    for (auto& p : peers) {
      PeerState ps;
      ps.public_key = p.public_key;
      ps.preshared_key = p.preshared_key;
      ps.endpoint = p.endpoint;
      ps.persistent_keepalive_interval = p.persistent_keepalive_interval;
      ps.allowed_ips = std::move(p.allowed_ips);
      ps.last_handshake = p.last_handshake;
      ps.rx_bytes = p.rx_bytes;
      ps.tx_bytes = p.tx_bytes;
      s.peers.push_back(std::move(ps));
    }
    return s;
  }

  // --- cross-thread marshalling ---

  void MarkLoopThread() { loop_thread.store(std::this_thread::get_id(), std::memory_order_relaxed); }
  bool OnLoopThread() const {
    return loop_thread.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

  // One control call posted from another thread. `fn` refers to the
  // caller's stack, so it may run only while the caller still waits: a call
  // that times out while queued is cancelled; one already running is waited
  // for to the end.
  struct Call {
    enum class State { kQueued, kRunning, kDone, kCancelled };
    Mutex mu;
    CondVar cv;
    State state GUARDED_BY(mu) = State::kQueued;
  };

  static Error ShuttingDown() {
    return Error(ESHUTDOWN, "device is shutting down");
  }

  // Runs `fn` on the loop thread and waits. ESHUTDOWN if the device closed,
  // ETIMEDOUT if the loop did not start it in time.
  Result<void> RunOnLoop(const std::function<void()>& fn) EXCLUDES(calls_mu) {
    if (OnLoopThread()) {
      {
        MutexLock lock(calls_mu);
        if (closed) return ShuttingDown();
      }
      fn();
      return Ok();
    }
    auto call = std::make_shared<Call>();
    {
      MutexLock lock(calls_mu);
      if (closed) return ShuttingDown();
      calls.push_back(call);
    }
    loop.Post([this, call, &fn] {
      MarkLoopThread();
      {
        MutexLock lock(call->mu);
        if (call->state != Call::State::kQueued) return;
        call->state = Call::State::kRunning;
      }
      fn();
      MutexLock lock(call->mu);
      call->state = Call::State::kDone;
      call->cv.NotifyAll();
    });
    bool ran;
    bool timed_out = false;
    {
      MutexLock lock(call->mu);
      auto settled = [&]() NO_THREAD_SAFETY_ANALYSIS {
        return call->state == Call::State::kDone || call->state == Call::State::kCancelled;
      };
      const Duration timeout = options.control_timeout;
      if (!call->cv.WaitFor(call->mu, timeout, settled)) {
        if (call->state == Call::State::kQueued) {
          call->state = Call::State::kCancelled;
          timed_out = true;
        } else {
          // Running: it will finish, and it uses our stack until then.
          while (!settled()) call->cv.WaitFor(call->mu, timeout, settled);
        }
      }
      ran = call->state == Call::State::kDone;
    }
    MutexLock lock(calls_mu);
    calls.remove(call);
    if (ran) return Ok();
    if (timed_out) {
      return Error(ETIMEDOUT, "the device's loop did not take the control call in time");
    }
    return ShuttingDown();
  }

  // On the loop thread (so no call is running): refuses new calls and
  // releases the waiters of queued ones.
  void CancelCalls() EXCLUDES(calls_mu) {
    MutexLock lock(calls_mu);
    closed = true;
    for (auto& c : calls) {
      MutexLock l(c->mu);
      if (c->state == Call::State::kQueued) c->state = Call::State::kCancelled;
      c->cv.NotifyAll();
    }
  }

  // A handshake worker: takes its share of `handshakes` at a time and runs
  // the engine for each message, one engine call per message. It has a
  // Sink of its own (its own Bind::Send calls, under bind_mu, never during
  // Rebind or SetFwmark; its own log budget).
  struct HandshakeWorker {
    explicit HandshakeWorker(Impl& impl) : d(impl), sink(impl, Sink::Role::kHandshakeWorker) {
      batch.resize(kHandshakeBatch);
    }
    ~HandshakeWorker() { Join(); }

    // `name`: the thread's, for top -H and perf.
    void Start(std::string name) {
      thread = std::thread([this, name = std::move(name)] {
        SetThreadName(name);
        Run();
      });
    }
    // Returns once the worker ended (after HandshakeQueue::Stop, with the
    // message in hand finished).
    void Join() {
      if (thread.joinable()) thread.join();
    }

    void Run() {
      for (;;) {
        const size_t n = d.handshakes.PopBatch(batch);
        if (n == 0) return;  // stopped
        for (size_t i = 0; i < n; ++i) Handle(batch[i]);
        sink.Flush();
      }
    }

    void Handle(HandshakeMessage& m) {
      const Now now = d.clock.Read();
      const wg::Path from{m.from, m.local};
      auto r = d.CallEngine([&](wg::Engine& e) { return e.Decapsulate(from, m.data(), now, sink); });
      // Released staged packets go out now: the loop waits for them.
      if (sink.held_transport > 0) sink.Flush();
      if (r.kind == wg::DecapsulateResult::Kind::kDeliver) {
        sink.WriteToTun(r.peer, r.packet);  // not from a handshake message; kept general
      } else if (GetLogLevel() >= LogLevel::kVerbose) {
        d.LogDecapsulate(r, m.from, now, sink.log_budget);
      }
    }

    Impl& d;
    Sink sink;
    std::thread thread;
    std::vector<HandshakeMessage> batch;
  };

  static crypto::SipHashKey NewShedderKey(crypto::Rng& r) {
    crypto::SipHashKey key;
    r.Fill(MutableByteSpan(key.data(), key.size()));
    return key;
  }

  // An extra TUN queue (1..tun_queues-1) and the thread that reads it: its
  // own TunQueue (buffers, results) and its own sink (its engine
  // datagrams, sent under bind_mu as a crypto worker's are).
  struct ExtraQueue {
    ExtraQueue(Impl& d, std::unique_ptr<net::TunDevice> t, size_t index)
        : tun(std::move(t)) {
      sinks.push_back(std::make_unique<Sink>(d, Sink::Role::kQueueReader));
      queue = std::make_unique<TunQueue>(*tun, index, d.batch_size(), sinks, false);
    }

    std::unique_ptr<net::TunDevice> tun;
    std::vector<std::unique_ptr<Sink>> sinks;  // one
    std::unique_ptr<TunQueue> queue;
    std::unique_ptr<QueueReader> reader;  // stopped before the rest goes
  };

  // Opens queues 1..count-1 and their readers (not started). On an error,
  // what was opened stays in extra_queues for Close to close.
  Result<void> OpenExtraQueues(size_t count) {
    for (size_t i = 1; i < count; ++i) {
      const auto context = [&] { return fmt::format("TUN queue {} of {}", i, count); };
      auto opened = tun->OpenQueue();
      if (!opened.ok()) return opened.error().Wrap(context());
      auto q = std::make_unique<ExtraQueue>(*this, std::move(*opened), i);
      TunQueue* tq = q->queue.get();
      auto reader = QueueReader::Create(
          q->tun->waitable(), [this, tq] { return ReadExtraQueue(*tq); },
          fmt::format("zl-tunq-{}", i));
      extra_queues.push_back(std::move(q));
      if (!reader.ok()) return reader.error().Wrap(context());
      extra_queues.back()->reader = std::move(*reader);
    }
    return Ok();
  }

  // Starts the queue readers, the handshake workers and the crypto workers
  // (Close stops them).
  void StartThreads() {
    for (auto& q : extra_queues) q->reader->Start();
    for (size_t i = 0; i < handshake_workers.size(); ++i) {
      handshake_workers[i]->Start(fmt::format("zl-handshake-{}", i + 1));
    }
    runner.Start();
  }

  // Stops and joins every thread but the loop's: the queue readers (each
  // after the batch in hand), the handshake workers (queued messages
  // discarded, the ones in hand finished), then the crypto workers (never
  // inside a batch here: a batch ends within its loop turn).
  void StopThreads() {
    for (auto& q : extra_queues) {
      if (q->reader) q->reader->Stop();
    }
    handshakes.Stop();
    for (auto& w : handshake_workers) w->Join();
    runner.Stop();
  }

  net::EventLoop& loop;
  std::unique_ptr<net::TunDevice> tun;
  // Receive and Send on the loop thread; Send on the other threads too
  // (bind.h allows it), under bind_mu, which Rebind and SetFwmark also take.
  std::unique_ptr<net::Bind> bind;
#if defined(__linux__)
  // Tells when the TUN is deleted or its MTU changes (rtnetlink). Windows has
  // none yet: Wintun's removal ends ReadBatch with ENODEV, and the MTU is
  // the one the device was created with.
  std::unique_ptr<net::LinkWatcher> link;
#endif
  const Clock& clock;
  crypto::Rng& rng;
  // Thread-safe; reached only through CallEngine.
  wg::Engine engine;
  // Lock order: the engine's internal lock, then bind_mu or
  // names_mu (taken by the sinks inside engine calls). No engine call with
  // either held.
  Mutex bind_mu;
  Mutex names_mu;
  PeerNames peer_names GUARDED_BY(names_mu);  // kept only while verbose logging is on
  DeviceOptions options;
  GlueCounters glue;
  // Transport datagrams the handshake workers' sinks hold (Sink::
  // held_transport, summed).
  std::atomic<size_t> staged_sends_held{0};
  // Handshake messages from the loop thread to the handshake workers.
  const size_t handshake_worker_count;
  HandshakeQueue handshakes;
  std::vector<std::unique_ptr<HandshakeWorker>> handshake_workers;
  // The data threads: the loop thread and the crypto workers.
  BatchRunner runner;
  // Each data thread's sink: [0] the loop thread's (also for Tick and the
  // control calls), [t] crypto worker t's.
  std::vector<std::unique_ptr<Sink>> data_sinks;
  // TUN queues 1.. with their readers (queue 0 is `tun`, the loop's).
  std::vector<std::unique_ptr<ExtraQueue>> extra_queues;

  size_t mtu = net::kDefaultTunMtu;  // the TUN's, followed through rtnetlink
  std::optional<crypto::PrivateKey> private_key_for_get;
  uint32_t fwmark = 0;
  std::optional<net::TimerId> tick_timer;
  bool tun_gone_reported = false;
  bool close_done = false;

  // --- the batch in hand (written by the loop thread before runner.Run,
  // each slot's result by the data thread that took it) ---
  enum class BatchKind { kEncapsulate, kDecapsulate };
  BatchKind batch_kind = BatchKind::kEncapsulate;
  Now batch_now;  // a receive batch's (a TUN batch's: TunQueue::now)
  size_t batch_first = 0;  // Process's item 0 (RunSplit)
  std::unique_ptr<TunQueue> loop_queue;  // queue 0
  std::vector<std::vector<uint8_t>> recv_bufs;
  std::vector<net::RecvSlot> recv_slots;
  // The datagrams of one receive batch that stay on the data path (all but
  // handshake messages), their slots and what the engine made of them.
  struct Datagram {
    MutableByteSpan bytes;
    size_t slot;
    wg::DecapsulateResult result;
  };
  std::vector<Datagram> datagrams;
  // Decrypted packets of one receive batch (inside recv_bufs), and, with
  // several TUN queues, the same split by the queue they are written through.
  std::vector<MutableByteSpan> deliveries;
  std::vector<std::vector<MutableByteSpan>> queue_deliveries;
  // What a receive batch sends, in order (see DecapsulateBatch).
  std::vector<net::SendItem> batch_sends;
  net::BindOffloads offloads;  // in effect
  bool tun_continuation_posted = false;
  // False once closed: a posted continuation then does nothing.
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);

  std::atomic<std::thread::id> loop_thread{};
  // Serializes control calls from threads other than the loop's, so a set
  // applied in several loop turns is seen whole by them.
  Mutex control_mu;
  Mutex calls_mu;
  bool closed GUARDED_BY(calls_mu) = false;
  std::list<std::shared_ptr<Call>> calls GUARDED_BY(calls_mu);
};

Device::Device(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Device::~Device() { Close(); }

Result<std::unique_ptr<Device>> Device::Create(net::EventLoop& loop,
                                               std::unique_ptr<net::TunDevice> tun,
                                               const Clock& clock, crypto::Rng& rng,
                                               DeviceOptions options) {
  std::unique_ptr<net::Bind> bind = std::move(options.bind);
  if (!bind) {
    auto opened = net::OpenUdpBind(0);
    if (!opened.ok()) return opened.error().Wrap("UDP bind");
    bind = std::move(*opened);
  }
  int ifindex = tun->index();
  auto impl = std::make_unique<Impl>(loop, std::move(tun), std::move(bind), clock, rng,
                                     std::move(options));
  Impl* d = impl.get();
  std::unique_ptr<Device> device(new Device(std::move(impl)));

  // Nothing runs yet: a queue that fails leaves the ones opened before it
  // to Close (the device's destructor).
  const size_t queues = TunQueueCount(d->options.tun_queues);
  ZL_RETURN_IF_ERROR(d->OpenExtraQueues(queues));
  if (d->options.udp_offloads) d->offloads = d->bind->SetOffloads({true, true});
  if (GetLogLevel() >= LogLevel::kVerbose) {
    const std::string tun_offloads = d->tun->offloads();
    LogVerbose(fmt::format("offloads: UDP send {}, UDP receive {}, TUN {}",
                           d->offloads.send ? "on" : "off", d->offloads.receive ? "on" : "off",
                           tun_offloads.empty() ? std::string("none") : tun_offloads));
    LogVerbose(queues == 1 ? std::string("TUN queues: 1 (read by the loop thread)")
                           : fmt::format("TUN queues: {} (queue 0 read by the loop thread, "
                                         "{} by queue reader threads)",
                                         queues, queues - 1));
  }
  if (auto m = d->tun->Mtu(); m.ok() && *m > 0) d->mtu = size_t(*m);
  d->CallEngine([d](wg::Engine& e) { e.SetMtu(d->mtu); });
  d->StartThreads();  // Close stops them
#if defined(__linux__)
  if (ifindex > 0) {
    auto link = net::LinkWatcher::Create(ifindex);
    if (!link.ok()) return link.error().Wrap("rtnetlink");
    d->link = std::move(*link);
    ZL_RETURN_IF_ERROR(d->loop.Watch(d->link->fd(), net::kReadable, [d](uint32_t) {
      d->MarkLoopThread();
      d->OnLinkEvents();
    }));
  }
#else
  (void)ifindex;
#endif
  ZL_RETURN_IF_ERROR(d->loop.Watch(d->tun->waitable(), net::kReadable, [d](uint32_t) {
    d->MarkLoopThread();
    d->OnTunReadable();
  }));
  ZL_RETURN_IF_ERROR(d->WatchSockets());
  auto timer = d->loop.AddTimer(wg::kTickInterval, wg::kTickInterval, [d] {
    d->MarkLoopThread();
    d->OnTick();
  });
  if (!timer.ok()) return timer.error();
  d->tick_timer = *timer;
  return device;
}

Result<void> Device::Apply(const ConfigRequest& request) {
  // On the loop thread the steps run back to back, so nothing interleaves.
  if (impl_->OnLoopThread()) return impl_->ApplyInSteps(request);
  // Other threads' control calls wait for all steps: none sees half a set.
  MutexLock lock(impl_->control_mu);
  return impl_->ApplyInSteps(request);
}

Result<DeviceState> Device::Snapshot() {
  DeviceState state;
  auto take = [&] { state = impl_->SnapshotOnLoop(); };
  if (impl_->OnLoopThread()) {
    ZL_RETURN_IF_ERROR(impl_->RunOnLoop(take));
  } else {
    MutexLock lock(impl_->control_mu);
    ZL_RETURN_IF_ERROR(impl_->RunOnLoop(take));
  }
  return state;
}

void Device::Close() {
  if (!impl_ || impl_->close_done) return;
  Impl& d = *impl_;
  d.close_done = true;
  d.alive->store(false, std::memory_order_release);
  // 1. No more control calls; waiters are released.
  d.CancelCalls();
  // 2. Stop every event source.
  if (d.tick_timer) d.loop.CancelTimer(*d.tick_timer);
#if defined(__linux__)
  if (d.link) d.loop.Unwatch(d.link->fd());
#endif
  d.loop.Unwatch(d.tun->waitable());
  d.UnwatchSockets();
  // 3. The queue readers (each after its batch in hand), the handshake
  // workers (queued messages discarded, the ones in hand finished) and the
  // crypto workers.
  d.StopThreads();
  // 4. Wipe keys: peers and our private key.
  d.CallEngine([](wg::Engine& e) { e.RemoveAllPeers(); });
  const Now now = d.clock.Read();
  d.CallEngine([&](wg::Engine& e) { (void)e.SetPrivateKey(std::nullopt, now); });
  d.private_key_for_get.reset();
  // 5. Sockets, then the TUN: the extra queues, then queue 0 (the kernel
  // removes the interface with its last queue).
  d.bind.reset();
#if defined(__linux__)
  d.link.reset();
#endif
  d.extra_queues.clear();
  d.loop_queue.reset();
  d.tun.reset();
}

const std::string& Device::name() const {
  static const std::string kClosed;
  return impl_->tun ? impl_->tun->name() : kClosed;
}

uint16_t Device::listen_port() const { return impl_->bind ? impl_->bind->port() : 0; }

DeviceCounters Device::counters() const {
  const Impl& d = *impl_;
  DeviceCounters c;
  c.tun_write_errors = d.glue.tun_write_errors.load(std::memory_order_relaxed);
  c.send_errors = d.glue.send_errors.load(std::memory_order_relaxed);
  c.send_dropped_full = d.glue.send_dropped_full.load(std::memory_order_relaxed);
  c.queue_packets = d.glue.queue_packets.load(std::memory_order_relaxed);
  c.split_batches = d.runner.split_batches();
  c.worker_packets = d.runner.worker_items();
  return c;
}

}  // namespace zl::device
