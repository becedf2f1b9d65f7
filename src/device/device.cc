#include "device/device.h"

#include <list>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "base/mutex.h"
#include "device/apply_plan.h"
#include "device/handshake_queue.h"
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
constexpr size_t kTransportOverhead = kTransportHeader + 16;  // header + tag
constexpr size_t kMaxDatagram = kMaxPacket + kTransportOverhead + 16;
// UDP GRO hands over at most this many datagrams in one receive slot (the
// kernel's UDP_GRO_CNT_MAX); only sizes a vector's reservation.
constexpr size_t kMaxSegmentsPerSlot = 64;
// Batches handled per wake-up before yielding to the other sources, so one
// busy direction cannot starve the other.
constexpr int kBatchesPerWakeup = 4;
// Handshake messages the worker takes from its queue at a time.
constexpr size_t kHandshakeBatch = 64;

// The engine never sheds by source itself: the device sheds at its
// handshake queue instead, only when the queue is more than half full
// (handshake_queue.h). A billion a second, four billion back to back: never
// reached, and tolerant of the clock readings of two threads.
wg::EngineOptions DeviceEngineOptions() {
  wg::EngineOptions o;
  o.handshakes_per_second_per_source_under_load = 1'000'000'000;
  o.handshake_burst_per_source_under_load = UINT32_MAX;
  return o;
}

}  // namespace

// Counters of the glue itself (the engine counts protocol drops). Each
// thread (loop, handshake worker) keeps its own.
struct GlueCounters {
  uint64_t tun_write_errors = 0;
  uint64_t send_errors = 0;
  uint64_t send_dropped_full = 0;
};

// Sends `items` in order without blocking: an item that cannot be sent is
// skipped, and when the socket buffer is full the rest are dropped rather
// than block, as a congested link would drop them.
void SendAll(net::Bind& bind, std::span<const net::SendItem> items, GlueCounters& counters) {
  while (!items.empty()) {
    auto sent = bind.Send(items);
    if (!sent.ok()) {
      // items[0] cannot be sent (no route, wrong family...): skip it.
      ++counters.send_errors;
      items = items.subspan(1);
      continue;
    }
    if (*sent == 0) {
      counters.send_dropped_full += items.size();
      break;
    }
    items = items.subspan(*sent);
  }
}

struct Device::Impl final : public wg::PacketSink {
  Impl(net::EventLoop& l, std::unique_ptr<net::TunDevice> t, std::unique_ptr<net::Bind> b,
       const Clock& c, crypto::Rng& r, DeviceOptions o)
      : loop(l),
        tun(std::move(t)),
        bind(std::move(b)),
        clock(c),
        rng(r),
        engine(DeviceEngineOptions(), r),
        options(std::move(o)),
        handshakes(options.handshake_queue_size, options.handshake_shed_per_second_per_source,
                   options.handshake_shed_burst_per_source, NewShedderKey(r)),
        worker(*this) {
    size_t n = options.batch_size == 0 ? 1 : std::min(options.batch_size, net::kMaxBatchSize);
    // A TUN packet is read at offset 16 of a datagram-sized buffer, so
    // Encapsulate writes the datagram around it in place.
    tun_bufs.assign(n, std::vector<uint8_t>(kMaxDatagram));
    tun_slots.resize(n);
    for (size_t i = 0; i < n; ++i) {
      tun_slots[i].buf = MutableByteSpan(tun_bufs[i].data() + kTransportHeader, kMaxPacket);
    }
    recv_bufs.assign(n, std::vector<uint8_t>(kMaxDatagram));
    recv_slots.resize(n);
    for (size_t i = 0; i < n; ++i) recv_slots[i].buf = MutableByteSpan(recv_bufs[i]);
    send_bufs.assign(n, std::vector<uint8_t>(kMaxDatagram));
    // Room for a batch's datagrams (in tun_bufs) and as many of the
    // engine's own messages (copied into send_bufs).
    max_sends = 2 * n;
    sends.reserve(max_sends);
    datagrams.reserve(n * kMaxSegmentsPerSlot);
    deliveries.reserve(n * kMaxSegmentsPerSlot);
  }

  // --- wg::PacketSink ---

  // The engine's own messages (handshakes, keepalives, staged packets):
  // their bytes are valid only during the call, so they are copied.
  void SendToNetwork(wg::PeerId, const wg::Path& to, ByteSpan data) override {
    if (data.size() > kMaxDatagram) return;
    if (send_bufs_used == send_bufs.size() || sends.size() == max_sends) FlushSends();
    auto& buf = send_bufs[send_bufs_used++];
    std::copy(data.begin(), data.end(), buf.begin());
    sends.push_back(net::SendItem{to.remote, ByteSpan(buf.data(), data.size()), to.local});
  }

  void WriteToTun(wg::PeerId, ByteSpan packet) override {
    if (auto r = tun->Write(packet); !r.ok()) ++glue.tun_write_errors;
  }

  // Handshake-rate events, but cookie replies answer anyone under load.
  // Called inside an engine call, i.e. with engine_mu held.
  void OnEvent(const wg::EngineEventInfo& info) override NO_THREAD_SAFETY_ANALYSIS {
    if (GetLogLevel() < LogLevel::kVerbose) return;
    if (info.event == wg::EngineEvent::kCookieReplySent && !drop_log.Allow(clock.Read().mono)) {
      return;
    }
    // Events during a peer update (a keepalive turned on starts a
    // handshake) follow the update's own lines.
    if (updating_peer) {
      events_of_update.push_back(info);
      return;
    }
    LogEngineEvent(peer_names, info);
  }

  // --- data path ---

  // A datagram whose bytes stay put until FlushSends (inside tun_bufs).
  void QueueSend(const wg::Path& to, ByteSpan data) {
    if (sends.size() == max_sends) FlushSends();
    sends.push_back(net::SendItem{to.remote, data, to.local});
  }

  void FlushSends() {
    SendAll(*bind, sends, glue);
    sends.clear();
    send_bufs_used = 0;
  }

  // Reads and encrypts up to kBatchesPerWakeup batches. A full batch means
  // more may be waiting that the TUN's fd does not signal (the rest of an
  // offloaded super-packet): after the last round, a full batch posts the
  // continuation instead of waiting for readiness. An empty TUN ends it.
  void OnTunReadable() {
    bool full = false;
    for (int round = 0; round < kBatchesPerWakeup; ++round) {
      auto n = tun->ReadBatch(tun_slots);
      if (!n.ok()) {
        if (n.error().code() == EAGAIN) return;
        // The interface was deleted (`ip link del`, wg-quick down, Wintun's
        // adapter removed): a normal way to end; anything else is an error.
        if (net::IsTunGone(n.error())) {
          LogVerbose("interface deleted, shutting down");
        } else {
          LogError("TUN read failed: " + n.error().message());
        }
        TunGone();
        return;
      }
      if (*n == 0) return;
      EncapsulateBatch(*n);
      FlushSends();  // before the next ReadBatch reuses tun_bufs
      full = *n == tun_slots.size();
      if (!full) return;
    }
    if (full) PostTunContinuation();
  }

  // Encrypts the first `n` TUN slots, under engine_mu for the whole batch.
  void EncapsulateBatch(size_t n) EXCLUDES(engine_mu) {
    MutexLock lock(engine_mu);
    const Now now = clock.Read();  // under the lock: the engine's time never goes back
    for (size_t i = 0; i < n; ++i) {
      ByteSpan packet(tun_slots[i].buf.data(), tun_slots[i].len);
      // In place: the packet sits at offset 16 of its datagram buffer.
      auto r = engine.Encapsulate(packet, MutableByteSpan(tun_bufs[i]), now, *this);
      if (r.kind == wg::EncapsulateResult::Kind::kSent) {
        QueueSend(r.to, ByteSpan(tun_bufs[i].data(), r.length));
      } else if (r.kind == wg::EncapsulateResult::Kind::kDropped &&
                 GetLogLevel() >= LogLevel::kVerbose && drop_log.Allow(now.mono)) {
        LogVerbose(fmt::format("{}dropped a packet for the tunnel: {}", PeerName(r.peer),
                               wg::DropReasonName(r.drop)));
      }
    }
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
  // copied to the handshake queue for the worker; the rest are decrypted in
  // place under engine_mu (once per batch, and not at all for a batch of
  // handshakes only), and a batch's packets go to the TUN in one WriteBatch,
  // before the next Receive reuses the buffers.
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
            datagrams.push_back(Datagram{datagram, i});
          }
          offset += len;
        } while (offset < slot.len);
      }
      if (queued) handshakes.Notify();
      deliveries.clear();
      if (!datagrams.empty()) DecapsulateBatch();
      if (!deliveries.empty()) glue.tun_write_errors += tun->WriteBatch(deliveries);
      FlushSends();
      if (*n < recv_slots.size()) break;
    }
  }

  // Decrypts `datagrams`, under engine_mu for the whole batch; the packets
  // to deliver (inside the receive buffers) go to `deliveries`.
  void DecapsulateBatch() EXCLUDES(engine_mu) {
    MutexLock lock(engine_mu);
    const Now now = clock.Read();
    const bool verbose = GetLogLevel() >= LogLevel::kVerbose;
    for (const Datagram& d : datagrams) {
      const net::RecvSlot& slot = recv_slots[d.slot];
      auto r = engine.Decapsulate(wg::Path{slot.from, slot.local}, d.bytes, now, *this);
      if (r.kind == wg::DecapsulateResult::Kind::kDeliver) {
        deliveries.push_back(r.packet);
      } else if (verbose) {
        LogDecapsulate(r, slot.from, now, drop_log);
      }
    }
  }

  // --- verbose logging (LOG_LEVEL=verbose); never a key but public ones ---

  // "peer(AbCd…wXyZ): " as wireguard-go names peers, or "" for none.
  std::string PeerName(wg::PeerId id) const REQUIRES(engine_mu) {
    return peer_names.Prefix(id);
  }

  // `budget`: the calling thread's.
  void LogDecapsulate(const wg::DecapsulateResult& r, const Endpoint& from, Now now,
                      LogBudget& budget) REQUIRES(engine_mu) {
    // Handshake messages are told by OnEvent.
    using Kind = wg::DecapsulateResult::Kind;
    if (r.kind == Kind::kKeepalive) {
      LogVerbose(fmt::format("{}keepalive received", PeerName(r.peer)));
    } else if (r.kind == Kind::kDropped && budget.Allow(now.mono)) {
      LogVerbose(fmt::format("{}dropped a datagram from {}: {}", PeerName(r.peer),
                             from.ToString(), wg::DropReasonName(r.drop)));
    }
  }

  void OnTick() EXCLUDES(engine_mu) {
    {
      MutexLock lock(engine_mu);
      engine.Tick(clock.Read(), *this);
    }
    FlushSends();
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
        MutexLock lock(engine_mu);
        engine.SetMtu(mtu);
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
      MutexLock lock(engine_mu);
      const auto old_public = engine.public_key();
      if (auto r = engine.SetPrivateKey(key, now); !r.ok()) note(r.error());
      const auto new_public = engine.public_key();
      if (verbose && new_public != old_public) {
        LogVerbose(new_public ? "private key updated; public key now " + ShortKey(*new_public)
                              : std::string("private key cleared"));
      }
    }
    if (req.listen_port && *req.listen_port != bind->port()) {
      UnwatchSockets();
      auto r = [&] {
        MutexLock lock(bind_mu);  // not while the worker sends
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
                        std::optional<Error>& first_error) EXCLUDES(engine_mu) {
    {
      MutexLock lock(engine_mu);
      const Now now = clock.Read();
      const bool verbose = GetLogLevel() >= LogLevel::kVerbose;
      for (const PeerSlice& slice : step) {
        const wg::PeerUpdate update = ToPeerUpdate(req.peers[slice.peer], slice);
        const wg::PeerId before = verbose ? engine.FindPeerId(update.public_key) : wg::kNoPeer;
        updating_peer = verbose;
        auto r = engine.ApplyPeerUpdate(update, now, *this);
        updating_peer = false;
        if (!r.ok() && !first_error) first_error = r.error();
        if (verbose) NoteAppliedPeerUpdate(update, before, r);
      }
    }
    FlushSends();
  }

  void NoteAppliedPeerUpdate(const wg::PeerUpdate& update, wg::PeerId before,
                             const Result<void>& result) REQUIRES(engine_mu) {
    const wg::PeerId after = engine.FindPeerId(update.public_key);
    if (before != wg::kNoPeer && after != before) peer_names.Remove(before);
    if (after != wg::kNoPeer) peer_names.Add(after, update.public_key);
    LogPeerUpdate(ShortPeerName(update.public_key), update,
                  PeerChange{before != wg::kNoPeer, after != wg::kNoPeer}, result);
    for (const auto& info : events_of_update) LogEngineEvent(peer_names, info);
    events_of_update.clear();
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
          MutexLock lock(engine_mu);
          if (first && GetLogLevel() >= LogLevel::kVerbose) {
            LogVerbose(fmt::format("removing all {} peers (replace_peers)", engine.peer_count()));
            peer_names.Clear();
          }
          first = false;
          left = engine.RemovePeersUpTo(kPeersRemovedPerStep);
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
    std::vector<wg::PeerSnapshot> peers;
    {
      MutexLock lock(engine_mu);
      peers = engine.Snapshot();
    }
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

  // The handshake worker: takes batches from `handshakes` and runs the
  // engine for each message, holding engine_mu per message (so the data path
  // waits at most for one message's cryptography). It is a PacketSink of its
  // own: its own send buffers, its own Bind::Send calls (under bind_mu, never
  // during Rebind or SetFwmark), its own log budget and counters.
  struct Worker final : public wg::PacketSink {
    // Datagrams the worker's sink holds before it sends them (a completed
    // handshake releases up to staged_packets_per_peer at once).
    static constexpr size_t kSendBufs = 16;

    explicit Worker(Impl& impl) : d(impl) {
      batch.resize(kHandshakeBatch);
      send_bufs.assign(kSendBufs, std::vector<uint8_t>(kMaxDatagram));
      sends.reserve(kSendBufs);
    }
    ~Worker() override { Stop(); }

    void Start() { thread = std::thread([this] { Run(); }); }
    // Discards what is queued, lets the message in hand finish, joins.
    void Stop() {
      d.handshakes.Stop();
      if (thread.joinable()) thread.join();
    }

    void Run() {
      for (;;) {
        const size_t n = d.handshakes.PopBatch(batch);
        if (n == 0) return;  // stopped
        for (size_t i = 0; i < n; ++i) Handle(batch[i]);
        Flush();
      }
    }

    void Handle(HandshakeMessage& m) EXCLUDES(d.engine_mu) {
      MutexLock lock(d.engine_mu);
      const Now now = d.clock.Read();
      auto r = d.engine.Decapsulate(wg::Path{m.from, m.local}, m.data(), now, *this);
      if (r.kind == wg::DecapsulateResult::Kind::kDeliver) {
        WriteToTun(r.peer, r.packet);  // not from a handshake message; kept general
      } else if (GetLogLevel() >= LogLevel::kVerbose) {
        d.LogDecapsulate(r, m.from, now, log_budget);
      }
    }

    void SendToNetwork(wg::PeerId, const wg::Path& to, ByteSpan data) override {
      if (data.size() > kMaxDatagram) return;
      if (sends.size() == send_bufs.size()) Flush();
      auto& buf = send_bufs[sends.size()];
      std::copy(data.begin(), data.end(), buf.begin());
      sends.push_back(net::SendItem{to.remote, ByteSpan(buf.data(), data.size()), to.local});
    }
    // The TUN takes writes from any thread (tun_device.h).
    void WriteToTun(wg::PeerId, ByteSpan packet) override {
      if (!d.tun->Write(packet).ok()) ++counters.tun_write_errors;
    }
    // Called inside an engine call, i.e. with engine_mu held.
    void OnEvent(const wg::EngineEventInfo& info) override NO_THREAD_SAFETY_ANALYSIS {
      if (GetLogLevel() < LogLevel::kVerbose) return;
      if (info.event == wg::EngineEvent::kCookieReplySent &&
          !log_budget.Allow(d.clock.Read().mono)) {
        return;
      }
      LogEngineEvent(d.peer_names, info);
    }

    void Flush() EXCLUDES(d.bind_mu) {
      if (sends.empty()) return;
      MutexLock lock(d.bind_mu);
      SendAll(*d.bind, sends, counters);
      sends.clear();
    }

    Impl& d;
    std::thread thread;
    std::vector<HandshakeMessage> batch;
    std::vector<std::vector<uint8_t>> send_bufs;
    std::vector<net::SendItem> sends;
    LogBudget log_budget;
    GlueCounters counters;
  };

  static crypto::SipHashKey NewShedderKey(crypto::Rng& r) {
    crypto::SipHashKey key;
    r.Fill(MutableByteSpan(key.data(), key.size()));
    return key;
  }

  net::EventLoop& loop;
  std::unique_ptr<net::TunDevice> tun;
  // Receive and Send on the loop thread; Send on the worker too (bind.h
  // allows it), under bind_mu, which Rebind and SetFwmark also take.
  std::unique_ptr<net::Bind> bind;
#if defined(__linux__)
  // Tells when the TUN is deleted or its MTU changes (rtnetlink). Windows has
  // none yet: Wintun's removal ends ReadBatch with ENODEV, and the MTU is
  // the one the device was created with.
  std::unique_ptr<net::LinkWatcher> link;
#endif
  const Clock& clock;
  crypto::Rng& rng;
  // The engine is single-threaded: engine_mu is held for every call, on the
  // loop thread (a batch at a time, the control path, Tick) and the worker
  // (a message at a time), and guards what the sinks' OnEvent reads. Lock
  // order: engine_mu, then bind_mu.
  Mutex engine_mu;
  Mutex bind_mu;
  wg::Engine engine GUARDED_BY(engine_mu);
  DeviceOptions options;
  GlueCounters glue;  // the loop thread's
  PeerNames peer_names GUARDED_BY(engine_mu);  // kept only while verbose logging is on
  // While a peer update is applied (verbose only), OnEvent keeps the events
  // for after the update's own lines.
  bool updating_peer GUARDED_BY(engine_mu) = false;
  std::vector<wg::EngineEventInfo> events_of_update GUARDED_BY(engine_mu);
  LogBudget drop_log;  // the loop thread's
  // Handshake messages from the loop thread to the worker.
  HandshakeQueue handshakes;
  Worker worker;

  size_t mtu = net::kDefaultTunMtu;  // the TUN's, followed through rtnetlink
  std::optional<crypto::PrivateKey> private_key_for_get;
  uint32_t fwmark = 0;
  std::optional<net::TimerId> tick_timer;
  bool tun_gone_reported = false;
  bool close_done = false;

  std::vector<std::vector<uint8_t>> tun_bufs;
  std::vector<net::TunPacket> tun_slots;
  std::vector<std::vector<uint8_t>> recv_bufs;
  std::vector<net::RecvSlot> recv_slots;
  std::vector<std::vector<uint8_t>> send_bufs;
  size_t send_bufs_used = 0;  // of send_bufs, by SendToNetwork since FlushSends
  // Datagrams to send at FlushSends: in send_bufs or tun_bufs.
  std::vector<net::SendItem> sends;
  size_t max_sends = 0;
  // The datagrams of one receive batch that stay on the loop thread (all
  // but handshake messages), and their slots.
  struct Datagram {
    MutableByteSpan bytes;
    size_t slot;
  };
  std::vector<Datagram> datagrams;
  // Decrypted packets of one receive batch (inside recv_bufs).
  std::vector<MutableByteSpan> deliveries;
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

  if (d->options.udp_offloads) d->offloads = d->bind->SetOffloads({true, true});
  if (GetLogLevel() >= LogLevel::kVerbose) {
    const std::string tun_offloads = d->tun->offloads();
    LogVerbose(fmt::format("offloads: UDP send {}, UDP receive {}, TUN {}",
                           d->offloads.send ? "on" : "off", d->offloads.receive ? "on" : "off",
                           tun_offloads.empty() ? std::string("none") : tun_offloads));
  }
  if (auto m = d->tun->Mtu(); m.ok() && *m > 0) d->mtu = size_t(*m);
  {
    MutexLock lock(d->engine_mu);
    d->engine.SetMtu(d->mtu);
  }
  d->worker.Start();  // Close stops it
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
  // 3. The handshake worker: queued messages discarded, the one in hand
  // finished.
  d.worker.Stop();
  // 4. Wipe keys: peers and our private key.
  {
    MutexLock lock(d.engine_mu);
    d.engine.RemoveAllPeers();
    (void)d.engine.SetPrivateKey(std::nullopt, d.clock.Read());
  }
  d.private_key_for_get.reset();
  // 5. Sockets, then the TUN (the kernel removes the interface).
  d.bind.reset();
#if defined(__linux__)
  d.link.reset();
#endif
  d.tun.reset();
}

const std::string& Device::name() const {
  static const std::string kClosed;
  return impl_->tun ? impl_->tun->name() : kClosed;
}

uint16_t Device::listen_port() const { return impl_->bind ? impl_->bind->port() : 0; }

}  // namespace zl::device
