#pragma once
// Device: one WireGuard interface at work. It joins the protocol engine
// (wg::Engine, private to this layer) to a TUN device and a UDP bind. One
// event loop thread does all the I/O; crypto workers share its batches'
// cryptography, and handshake workers take the handshake messages:
//
//   TUN readable -> ReadBatch ---------------------------> a batch
//     (queue 0 on the loop; queues 1.. each on its queue reader, which
//     encrypts and sends its own batches: see tun_queues)
//   UDP readable -> Receive -> each datagram (each GRO segment):
//                     transport data ----------------------> a batch
//                     handshake message -> the bounded handshake queue
//                       (handshake_queue.h) -> a handshake worker:
//                       Engine::Decapsulate -> its own Bind::Send
//   a batch -> the data threads (the loop and the crypto workers) claim
//              chunks of it: Engine::Encapsulate / Decapsulate in place
//              (batch_runner.h)
//           -> the loop, in the batch's order: encrypted, one Bind::Send of
//              the engine's own datagrams then the batch's; decrypted, one
//              TunDevice::WriteBatch (one per TUN queue: each flow through
//              its queue, flow_queue.h), then the engine's own datagrams
//   timer (100 ms) -> Engine::Tick
//   rtnetlink     -> TUN deleted -> on_tun_gone callback
//
// Threads (DeviceOptions::data_threads, handshake_workers, tun_queues):
//   - the loop thread: every TUN and socket read and write, Tick, the
//     control calls, and its share of each batch's cryptography;
//   - data_threads - 1 crypto workers: for a batch of at least 8 packets the
//     loop wakes them once, every data thread claims 4 packets at a time
//     until none is left, and the loop waits for the chunks in hand, then
//     sends or writes the whole batch in the order it was read, so a peer's
//     packets keep their order. A smaller batch stays on the loop thread,
//     and so does a TUN batch whose first packet the engine stages (no
//     session yet: staging keeps the order it is called in); with
//     data_threads = 1 there is no worker at all;
//   - tun_queues - 1 queue readers: each reads one more queue of a multi-
//     queue TUN, encrypts what it read on its own thread and sends it (its
//     own batches, its own sink; sends under bind_mu);
//   - handshake_workers handshake workers, one engine call per message, so
//     the data path never waits for a handshake's cryptography and a flood
//     costs it only the copy into the queue.
// Each thread passes the engine its own PacketSink; the engine's own
// datagrams of a batch (handshake initiations, staged packets) wait in the
// sinks for the join and go out the loop's first (a sink that fills up
// sends at once).
// The engine is called from every thread (wg/engine.h, "Thread safety");
// the device's own state has its own locks, taken inside the sinks' calls
// (lock order: the engine's, then the device's), never around an engine
// call.
//
// It also implements ControlApi, so the UAPI server (and later the overlay
// daemon) configure it with ConfigRequest / read it with Snapshot.
//
// Thread safety: Create, Close and the destructor run on the loop's thread
// (or while the loop is not running). Apply and Snapshot are thread-safe:
// from another thread they post the work to the loop and wait for it (so the
// loop must be running); inside a loop callback they run directly. After
// Close they fail with ESHUTDOWN; when the loop does not start a call within
// DeviceOptions::control_timeout, with ETIMEDOUT. Apply runs a set in steps
// of bounded work (apply_plan.h), each a loop turn of its own, so a large set
// does not stall the data path; control calls from other threads are
// serialized, so none of them sees half of a set (the data path does).
// counters() may be called from any thread while the device exists.
// The engine uses `rng` on every thread above, concurrently: it must be
// thread-safe (crypto::SystemRng is).
//
// Shutdown order (Close): stop accepting control calls, unwatch the TUN, the
// sockets and the link watcher, cancel the timer, stop and join the queue
// readers (each after the batch in hand), the handshake workers (queued
// messages discarded) and the crypto workers, drop all peers (keys wiped),
// close the sockets, then destroy the TUN: the extra queues, then queue 0
// (the kernel removes the interface).

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "base/clock.h"
#include "base/result.h"
#include "crypto/random.h"
#include "device/config.h"
#include "net/event_loop.h"
#include "net/tun_device.h"
#include "net/bind.h"

namespace zl::device {

struct DeviceOptions {
  // Packets read from the TUN or the sockets per wake-up and per batch call.
  size_t batch_size = 64;
  // Threads that encrypt and decrypt a batch (see above): the loop thread
  // and data_threads - 1 crypto workers. 0 = 2 with 3 or more hardware
  // threads, else 1 (on 2 cores shared with the application a worker costs
  // more than it brings: docs/BENCHMARKS.md); 1 = the loop thread alone.
  // At most 8.
  size_t data_threads = 0;
  // TUN queues, each read by a thread of its own (multi-queue: the kernel
  // gives each flow to one queue, tun_device.h's OpenQueue). Queue 0 is the
  // loop thread's; queues 1..n-1 each get a queue reader thread, which reads
  // its queue in batches, encrypts them itself (no crypto workers) and sends
  // them through the shared bind. So several flows are encrypted in
  // parallel; a flow's packets keep their order (one queue per flow). The
  // receive path is unchanged (the loop and the crypto workers). 0 or 1 =
  // one queue (no OpenQueue call); more needs a TUN that can open queues
  // (Linux, created with LinuxTunOptions::multi_queue), else Create fails
  // (the error names the queue that failed). At most 8.
  size_t tun_queues = 1;
  // Threads that run handshake messages. 0 = min(2, hardware threads).
  // At most 8.
  size_t handshake_workers = 0;
  // Ask the bind for UDP offloads (net::BindOffloads: GSO on send, GRO on
  // receive); false keeps one datagram per message (benchmarks, debugging).
  bool udp_offloads = true;
  // Handshake messages (initiations, responses, cookie replies) waiting for
  // the handshake worker; more are dropped and counted. 0 counts as 1.
  size_t handshake_queue_size = 4096;
  // Once that queue is more than half full, the messages per second one
  // source (IPv4 address, IPv6 /64) may add to it on average, and back to
  // back; the rest are dropped unexamined (docs/ARCHITECTURE.md, "Shedding a
  // handshake flood"). Below half full nothing is shed.
  uint32_t handshake_shed_per_second_per_source = 50;
  uint32_t handshake_shed_burst_per_source = 10;
  // Called on the loop thread when the TUN interface disappears.
  std::function<void()> on_tun_gone;
  // The UDP side; null = net::OpenUdpBind on all addresses, random port.
  std::unique_ptr<net::Bind> bind;
  // How long a control call from another thread waits for the loop to
  // start it (then ETIMEDOUT). A call already running is waited for.
  Duration control_timeout = std::chrono::seconds(10);
  // Tests: a batch shared with the crypto workers waits (up to a second)
  // until one of them took its first chunk, so the workers surely take part.
  bool crypto_worker_first_for_testing = false;
};

// What the device counts besides the engine's protocol drops.
struct DeviceCounters {
  uint64_t tun_write_errors = 0;
  uint64_t send_errors = 0;         // datagrams the bind refused
  uint64_t send_dropped_full = 0;   // datagrams dropped: socket buffer full
  uint64_t split_batches = 0;       // batches shared with the crypto workers
  uint64_t worker_packets = 0;      // packets the crypto workers processed
  uint64_t queue_packets = 0;       // TUN packets read by the queue readers (queues 1..n-1)
};

class Device final : public ControlApi {
 public:
  // Binds UDP on a random port (as wireguard-go does until listen_port is set)
  // and starts watching the TUN, the sockets and the link. `loop`, `clock`
  // and `rng` must outlive the device.
  static Result<std::unique_ptr<Device>> Create(net::EventLoop& loop,
                                                std::unique_ptr<net::TunDevice> tun,
                                                const Clock& clock, crypto::Rng& rng,
                                                DeviceOptions options = {});
  ~Device() override;

  Result<void> Apply(const ConfigRequest& request) override;
  Result<DeviceState> Snapshot() override;

  // See the shutdown order above. Idempotent.
  void Close();

  const std::string& name() const;
  uint16_t listen_port() const;
  // Thread-safe; still valid after Close.
  DeviceCounters counters() const;

 private:
  struct Impl;
  explicit Device(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zl::device
