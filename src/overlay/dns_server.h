#pragma once
// DnsServer: serves a DnsZone over UDP and TCP on one address and port
// (normally the node's overlay address, port 53).
//
// One thread of its own, polling the UDP socket, the TCP listener and the
// TCP clients (non-blocking, 2-byte length framing, several queries per
// connection, at most 64 clients, idle ones closed after 10 s). Bad input is
// counted (DnsZone counters) and never ends the server.
//
// Thread safety: Start/Stop from the owning thread. Stop joins the thread and
// closes every socket; idempotent, also run by the destructor.

#include <chrono>
#include <cstddef>
#include <memory>

#include "base/ip.h"
#include "base/result.h"
#include "overlay/dns_zone.h"

namespace zl::overlay {

struct DnsServerOptions {
  size_t max_tcp_clients = 64;  // more are accepted and closed at once
  std::chrono::milliseconds tcp_idle_timeout{10000};  // nothing read or written
};

class DnsServer {
 public:
  // Binds UDP and TCP on `at` (port 0: any free port, the same for both).
  // `zone` must outlive the server.
  static Result<std::unique_ptr<DnsServer>> Start(const Endpoint& at, DnsZone& zone,
                                                  DnsServerOptions options = {});
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  explicit DnsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zl::overlay
