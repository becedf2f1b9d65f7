#pragma once
// TunDevice: the layer-3 interface the device reads outgoing IP packets from
// and writes decrypted IP packets to (wireguard-go's tun.Device).
//
// Packets are bare IPv4/IPv6 datagrams, no link header and no packet info.
// Implementations: linux_tun.h (Linux /dev/net/tun), wintun_tun_win.h
// (Windows, Wintun); tests/support/fake_tun.h for tests.
//
// Offloads (Linux, linux_tun.h) are invisible here: ReadBatch always gives
// plain packets no longer than the MTU (super-packets are segmented, their
// checksums completed), and WriteBatch takes plain packets.
//
// Thread safety: ReadBatch and Write/WriteBatch may be called from different threads at
// the same time (one reader, any writers); the control methods (SetUp, SetMtu,
// Mtu) are for the owning thread. Ownership: the device owns its descriptor;
// destroying it removes a non-persistent Linux TUN.

#include <cerrno>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "base/bytes.h"
#include "base/result.h"
#include "net/waitable.h"

namespace zl::net {

// wireguard-go's DefaultMTU: 1500 minus the largest WireGuard overhead
// (40 B IPv6 + 8 B UDP + 32 B transport header and tag).
inline constexpr int kDefaultTunMtu = 1420;

// One packet of a batch: the caller provides `buf`, ReadBatch sets `len`.
struct TunPacket {
  MutableByteSpan buf;
  size_t len = 0;
};

class TunDevice {
 public:
  virtual ~TunDevice() = default;

  // The name the interface had when it was created.
  virtual const std::string& name() const = 0;
  // The kernel's interface index (for netlink); 0 if the platform has none.
  virtual int index() const = 0;
  // Readable (Linux) or signalled (Windows) when packets are waiting; for
  // the event loop. Never blocks.
  virtual Waitable waitable() const = 0;

  // Reads up to packets.size() packets without blocking, stopping early when
  // none is left. Returns how many slots were filled (0: nothing waiting). A
  // packet longer than its slot's buffer is truncated: give buffers of at
  // least Mtu() bytes. An error is returned only if no packet was read;
  // IsTunGone(error) tells that the interface was removed (a normal way to
  // end). A full batch (the result == packets.size()) means "call again":
  // segments of a super-packet may be waiting in the device, which the
  // waitable does not signal (it never returns 0 while they are).
  virtual Result<size_t> ReadBatch(std::span<TunPacket> packets) = 0;
  // Writes one IP packet. EINVAL when the version nibble is neither 4 nor 6;
  // EIO while the interface is down. A packet the platform has no room for
  // (Wintun's ring full) is dropped and counted, not an error: Write never
  // blocks.
  virtual Result<void> Write(ByteSpan packet) = 0;
  // Writes a batch of IP packets, in order within each flow. Offloading
  // implementations (Linux TUN with IFF_VNET_HDR) coalesce consecutive
  // TCP (and, with USO, UDP) segments of one flow into one super-packet and
  // one write (GRO); to do so they may rewrite the packets' headers in place.
  // The packets are trusted to be what an authenticated peer sent (they were
  // decrypted): Linux's TUN does not verify their TCP/UDP checksums, as the
  // kernel's WireGuard does not (linux_tun.h). Write, by contrast, leaves
  // the checksum to the kernel's check. Returns how many packets were not written (Write's errors: the caller
  // counts them). The default writes each packet with Write.
  virtual size_t WriteBatch(std::span<const MutableByteSpan> packets);

  // The current MTU as the OS reports it (an administrator may change it).
  virtual Result<int> Mtu() const = 0;
  virtual Result<void> SetMtu(int mtu) = 0;
  // Sets the interface administratively up.
  virtual Result<void> SetUp() = 0;

  // The offloads in effect, for logs and tests: "" for none, else a space-
  // separated list such as "csum tso4 tso6 uso4 uso6".
  virtual std::string offloads() const { return {}; }

  // Multi-queue: another queue of this same interface, with a descriptor
  // (and a waitable) of its own. The kernel spreads the packets routed to
  // the interface over its queues by flow (one flow always reads from one
  // queue), so one reader per queue reads in parallel. Each queue's
  // ReadBatch is for its own reader; any queue's Write/WriteBatch injects
  // packets into the stack. The queue has the same MTU and offloads; its
  // control methods act on the one interface. Destroy the queues before the
  // object they were opened from (the interface disappears when its last
  // queue closes). Errors: ENOTSUP where the interface was not created
  // multi-queue (LinuxTunOptions::multi_queue) or the platform has no
  // queues (the default); else what opening it returned.
  virtual Result<std::unique_ptr<TunDevice>> OpenQueue() {
    return Error(ENOTSUP, "this TUN has a single queue");
  }
};

// True for the errors ReadBatch/Write return once the interface is gone:
// EBADFD on Linux (`ip link del`), ENODEV (Wintun's ERROR_HANDLE_EOF).
bool IsTunGone(const Error& error);

}  // namespace zl::net
