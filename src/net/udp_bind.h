#pragma once
// Bind: the UDP side of the device (wireguard-go's conn.Bind). LinuxBind holds
// one IPv4 and one IPv6 socket (IPV6_V6ONLY) on the same port, receives and
// sends in batches (recvmmsg/sendmmsg), and keeps replies "sticky": each
// received datagram reports the local address it was sent to, and a send may
// name the source address to use, so a peer always hears back from the
// address it talks to on a multi-homed host.
//
// Thread safety: Receive (per family) and Send may run on different threads
// concurrently; port(), fd(), SetFwmark and Rebind belong to the owning thread
// and must not overlap with Receive/Send.
// Ownership: LinuxBind owns its sockets; slot and item buffers belong to the
// caller and are only used during the call.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "base/bytes.h"
#include "base/ip.h"
#include "base/result.h"
#include "base/unique_fd.h"

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

class Bind {
 public:
  virtual ~Bind() = default;

  // The UDP port both sockets share.
  virtual uint16_t port() const = 0;
  // The socket of `family`, to watch for kReadable; -1 if that family is off.
  virtual int fd(IpAddress::Family family) const = 0;

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

  // Sets SO_MARK on both sockets (0 clears); kept across Rebind.
  virtual Result<void> SetFwmark(uint32_t mark) = 0;

  // Moves to `port` (0: a fresh random port). Opens the new sockets first and
  // closes the old ones only on success; on failure nothing changes. A no-op
  // when `port` is the current non-zero port. The fds change: unwatch the old
  // ones and watch fd(kV4)/fd(kV6) again right after a successful call.
  virtual Result<void> Rebind(uint16_t port) = 0;
};

// Which local addresses LinuxBind listens on; nullopt turns a family off.
struct ListenAddresses {
  std::optional<IpAddress> v4;
  std::optional<IpAddress> v6;

  // 0.0.0.0 and :: (what the device uses).
  static ListenAddresses Any();
  // 127.0.0.1 and ::1 (for tests in a shared namespace).
  static ListenAddresses Loopback();
};

class LinuxBind final : public Bind {
 public:
  // Opens both sockets on `port` (0: the kernel picks one free for both
  // families). A family whose socket cannot be created at all
  // (EAFNOSUPPORT: IPv6 compiled out) is left off; any other failure fails.
  static Result<std::unique_ptr<LinuxBind>> Open(
      uint16_t port, ListenAddresses listen = ListenAddresses::Any());

  uint16_t port() const override { return sockets_.port; }
  int fd(IpAddress::Family family) const override;
  Result<size_t> Receive(IpAddress::Family family,
                         std::span<RecvSlot> slots) override;
  Result<size_t> Send(std::span<const SendItem> items) override;
  Result<void> SetFwmark(uint32_t mark) override;
  Result<void> Rebind(uint16_t port) override;

 private:
  struct Sockets {
    UniqueFd v4;
    UniqueFd v6;
    uint16_t port = 0;
  };

  LinuxBind(Sockets sockets, ListenAddresses listen);
  static Result<Sockets> OpenSockets(uint16_t port,
                                     const ListenAddresses& listen,
                                     uint32_t fwmark);
  // Sends one run of items of one family; same contract as Send.
  Result<size_t> SendRun(int fd, std::span<const SendItem> items);

  Sockets sockets_;
  ListenAddresses listen_;
  uint32_t fwmark_ = 0;
};

}  // namespace zl::net
