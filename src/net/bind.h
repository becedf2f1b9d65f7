#pragma once
// Bind: the UDP side of the device (wireguard-go's conn.Bind): one IPv4 and
// one IPv6 socket on the same port, received from and sent to in batches,
// with "sticky" replies: each received datagram reports the local address it
// was sent to, and a send may name the source address to use, so a peer
// always hears back from the address it talks to on a multi-homed host.
//
// Implementations: LinuxBind (udp_bind.h: recvmmsg/sendmmsg, IP_PKTINFO) and
// WinsockBind (winsock_bind_win.h: non-blocking Winsock with WSARecvMsg and
// WSASendMsg, each socket's readiness an event). OpenUdpBind gives the one of
// the platform.
//
// Thread safety: Receive (per family) and Send may run on different threads
// concurrently, and Send on several threads at once (the device's loop and
// its handshake workers send through one Bind); port(), waitable(),
// SetFwmark and Rebind belong to the owning thread and must not overlap with
// Receive/Send.
// Ownership: a Bind owns its sockets; slot and item buffers belong to the
// caller and are only used during the call.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "base/bytes.h"
#include "base/ip.h"
#include "base/result.h"
#include "net/waitable.h"

namespace zl::net {

// The most datagrams one Receive or one sendmmsg call handles.
inline constexpr size_t kMaxBatchSize = 64;
// wireguard-go's socketBufferSize (conn/controlfns.go).
inline constexpr int kSocketBufferSize = 7 << 20;

// One datagram received. The caller sets `buf`; Receive sets the rest.
struct RecvSlot {
  MutableByteSpan buf;
  size_t len = 0;  // bytes stored; a datagram longer than buf is truncated
  Endpoint from;
  // The local address the datagram was sent to (IP_PKTINFO's ipi_spec_dst,
  // IPV6_PKTINFO's ipi6_addr): pass it as SendItem::source when replying.
  std::optional<IpAddress> local;
  // Receive coalescing (Bind::SetOffloads, UDP GRO): when non-zero and less
  // than `len`, the slot holds several datagrams from `from` to `local`,
  // back to back, each segment_size bytes but the last (which may be
  // shorter). 0: one datagram. A coalesced slot whose buf is too small keeps
  // only the whole segments that fit; the rest are lost (LinuxBind counts
  // them).
  size_t segment_size = 0;
};

// One datagram to send.
struct SendItem {
  Endpoint to;
  ByteSpan data;
  // Local source address; ignored unless its family matches `to`. If the
  // kernel refuses it (no longer local: EINVAL, ENETUNREACH), the datagram
  // is sent again without it, from the address routing picks.
  std::optional<IpAddress> source;
};

// Offloads a Bind may use. Send offload (Linux: UDP_SEGMENT, "GSO") is
// invisible to callers: Send hands runs of equal-size datagrams to one peer to
// the kernel in one call. Receive coalescing (Linux: UDP_GRO) changes what
// Receive returns (RecvSlot::segment_size) and needs slots of at least 65535
// bytes, so only callers that handle it ask for it.
struct BindOffloads {
  bool send = false;
  bool receive = false;
};

class Bind {
 public:
  virtual ~Bind() = default;

  // The UDP port both sockets share.
  virtual uint16_t port() const = 0;
  // What the event loop waits on for datagrams of `family` (the socket on
  // Linux; its WSAEventSelect event on Windows); kNoWaitable if that family
  // is off.
  virtual Waitable waitable(IpAddress::Family family) const = 0;

  // Receives up to min(slots.size(), kMaxBatchSize) datagrams from the socket
  // of `family` without blocking. Returns how many slots were filled (0:
  // nothing waiting).
  virtual Result<size_t> Receive(IpAddress::Family family,
                                 std::span<RecvSlot> slots) = 0;

  // Sends items in order without blocking; returns how many leading items
  // were handed to the kernel. Fewer than items.size() means either the
  // socket buffer is full (EAGAIN: retry the rest later, or drop them) or the
  // next item fails, which the next call reports: an error is returned only
  // when items[0] itself cannot be sent (errno-coded: ENETUNREACH, EMSGSIZE,
  // EAFNOSUPPORT for a family that is off, ...); skip it and go on.
  virtual Result<size_t> Send(std::span<const SendItem> items) = 0;

  // Sets SO_MARK on both sockets (0 clears); kept across Rebind. ENOTSUP
  // where the platform has no fwmark (Windows) and mark is not 0.
  virtual Result<void> SetFwmark(uint32_t mark) = 0;

  // Asks for offloads; returns those in effect (probed: a kernel without
  // them gives false, and Send falls back to one datagram per message by
  // itself if the kernel refuses a segmented send). Kept across Rebind. Off
  // until asked; platforms without them (Windows) keep them off.
  virtual BindOffloads SetOffloads(BindOffloads wanted) {
    (void)wanted;
    return {};
  }

  // Moves to `port` (0: a fresh random port). Opens the new sockets first and
  // closes the old ones only on success; on failure nothing changes. A no-op
  // when `port` is the current non-zero port. The fds change: unwatch the old
  // ones and watch waitable(kV4)/waitable(kV6) again right after a successful call.
  virtual Result<void> Rebind(uint16_t port) = 0;
};

// Which local addresses a Bind listens on; nullopt turns a family off.
struct ListenAddresses {
  std::optional<IpAddress> v4;
  std::optional<IpAddress> v6;

  // 0.0.0.0 and :: (what the device uses).
  static ListenAddresses Any();
  // 127.0.0.1 and ::1 (for tests in a shared namespace).
  static ListenAddresses Loopback();
};

// The platform's Bind (LinuxBind, WinsockBind) on `port` (0: one free for
// both families) and `listen`.
Result<std::unique_ptr<Bind>> OpenUdpBind(uint16_t port,
                                          ListenAddresses listen = ListenAddresses::Any());

}  // namespace zl::net
