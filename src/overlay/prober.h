#pragma once
// Active health probes through the tunnel: every node answers UDP echo
// probes on its overlay address (ProbeResponder), and sends one probe per
// peer per round (Prober). A probe is 24 bytes: the magic "zlp1", a flag
// (request/reply), 3 reserved bytes, a 64-bit nonce and a 64-bit send time
// (ns). The responder answers only well-formed requests, with the same bytes
// and the reply flag; everything else is counted and dropped. Probes travel
// inside WireGuard (the peer's overlay address is routed to the tunnel), so
// a reply proves the whole path: handshake, keys, routing, the peer's
// process.
//
// Thread safety: each class owns a thread; Start/Stop from the owner.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/ip.h"
#include "base/result.h"

namespace zl::overlay {

class ProbeResponder {
 public:
  // Binds UDP `at` (the node's overlay address and the probe port).
  static Result<std::unique_ptr<ProbeResponder>> Start(const Endpoint& at);
  ~ProbeResponder();
  void Stop();
  uint16_t port() const;
  uint64_t answered() const;
  uint64_t malformed() const;

 private:
  struct Impl;
  explicit ProbeResponder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ProbeResult {
  Endpoint target;
  bool ok = false;
  std::optional<Duration> rtt;
};

// Sends one probe to each target and waits up to `timeout` for the replies
// (one socket, all probes in flight at once). Results in target order.
// Binds an ephemeral UDP port; `source` (the node's overlay address) if set.
Result<std::vector<ProbeResult>> ProbeAll(const std::vector<Endpoint>& targets,
                                          std::optional<IpAddress> source,
                                          std::chrono::milliseconds timeout);

}  // namespace zl::overlay
