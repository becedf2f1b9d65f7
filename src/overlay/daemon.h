#pragma once
// Daemon: one overlay node at work (`zlayer-overlay daemon`).
//
// It owns, in one process:
//   - the WireGuard device (TUN + UDP, in-process: no second process, no
//     UAPI round trip); the program serves the UAPI socket on device_api(),
//     so `wg show IFNAME` works;
//   - the local API: HTTP+JSON on DIR/control.sock (mode 0600), which the
//     CLI uses (`curl --unix-socket` works too);
//   - once in an overlay: the node's overlay addresses on the TUN, the
//     authoritative DNS server and the health-probe responder on its overlay
//     address, the health checks of every peer, and
//       * on the control node: the store (SQLite) and the peer API (HTTP on
//         its overlay address, reachable only through the tunnel): enrolment,
//         membership watches, the node's own record, names;
//       * on a member: the watch that follows the control node's store and
//         applies each change to the device and the DNS zone.
//
// Start() restores everything from the state directory: the same key,
// address and peers, with no re-init; a corrupt state refuses to start.
//
// Threads: the caller's event loop runs the device; the UAPI server, the
// HTTP servers, the DNS server and the probe responder have a thread each;
// a ticker thread runs health checks and timers; a member has a watch
// thread. Node state is guarded by one mutex.
//
// The loop: Start() must be called while `loop` runs on another thread (the
// daemon configures its device as it starts). Shutdown: stop the loop, then
// Stop() (idempotent): the device is closed (keys wiped, TUN removed), then
// the servers and threads stop. The state stays on disk.

#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/ip.h"
#include "base/result.h"
#include "crypto/random.h"
#include "device/config.h"
#include "net/event_loop.h"

namespace zl::overlay {

struct DaemonOptions {
  std::string state_dir;
  std::string interface = "zl0";
  uint16_t listen_port = 51820;
  // Published as this node's endpoint when it changes (restart with a new
  // address); nullopt: keep the one given at init/join.
  std::optional<Endpoint> endpoint;
  std::optional<Endpoint> metrics_listen;  // Prometheus text on /metrics
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> Start(net::EventLoop& loop, DaemonOptions options,
                                               const Clock& clock, crypto::Rng& rng);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  void Stop();

  // The embedded device's control API, for the UAPI server that the
  // program serves next to the daemon (so `wg show IFNAME` works). Valid
  // until the daemon is destroyed; after Stop its calls fail (ESHUTDOWN).
  device::ControlApi& device_api();

  struct Impl;

 private:
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zl::overlay
