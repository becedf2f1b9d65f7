#pragma once
// Device: one WireGuard interface at work. It joins the protocol engine
// (wg::Engine, private to this layer) to a TUN device and a UDP bind, and
// drives all three from one event loop and one handshake worker thread:
//
//   TUN readable  -> ReadBatch -> Engine::Encapsulate (in place) -> Bind::Send
//   UDP readable  -> Receive -> for each datagram (each GRO segment):
//                    handshake message -> copied to the bounded handshake
//                      queue (handshake_queue.h) -> worker thread:
//                      Engine::Decapsulate -> its own Bind::Send
//                    anything else -> Engine::Decapsulate (in place)
//                      -> TunDevice::WriteBatch (once per batch)
//   timer (100 ms) -> Engine::Tick
//   rtnetlink     -> TUN deleted -> on_tun_gone callback
//
// The engine is single-threaded: one mutex is held for every engine call,
// per batch on the loop thread and per message on the worker, so the data
// path waits at most for one handshake message's cryptography, and draining
// the sockets stays cheap under a handshake flood.
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
// The engine uses `rng` on both threads (one at a time): it must be
// thread-safe or used by this device alone.
//
// Shutdown order (Close): stop accepting control calls, unwatch the TUN, the
// sockets and the link watcher, cancel the timer, stop and join the handshake
// worker (queued messages discarded), drop all peers (keys wiped),
// close the sockets, then destroy the TUN (the kernel removes the interface).

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

 private:
  struct Impl;
  explicit Device(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zl::device
