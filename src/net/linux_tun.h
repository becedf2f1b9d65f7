#pragma once
// CreateLinuxTun: a TunDevice on Linux's /dev/net/tun (IFF_TUN | IFF_NO_PI,
// one queue). With LinuxTunOptions::offload (the default) it also asks for
// IFF_VNET_HDR and TUNSETOFFLOAD (checksum, TSO4/6, and USO4/6 where the
// kernel has them), probed at creation with a fallback to plain packets:
// ReadBatch then segments the kernel's super-packets itself and completes
// their checksums, and WriteBatch coalesces TCP/UDP segments of a flow into
// one super-packet (tun_device.h). WriteBatch trusts its packets' checksums:
// they were decrypted, so authenticated, and the kernel's WireGuard trusts
// them too; neither the coalescer nor the kernel verifies them
// (tun_coalesce.h). offloads() tells what is in effect.
//
// With LinuxTunOptions::multi_queue, OpenQueue attaches more queues to the
// interface (IFF_MULTI_QUEUE), each with the same flags and its own
// segmentation and coalescing state; without it, OpenQueue fails (ENOTSUP).
// IFF_VNET_HDR, the offloads and the MTU belong to the interface, so every
// queue has the first one's. Any queue's OpenQueue opens one more (at most
// 256 in all: E2BIG). OpenQueue's errors start "open TUN queue of <name>":
// ENODEV when the interface is gone (deleted, or renamed).
// The kernel picks a packet's queue by its flow's hash (symmetric in
// direction), except that a queue that Write()s a flow's packets receives
// that flow's packets the other way for a few seconds (automatic flow
// steering): writing every flow through one queue pulls the flows' reads to
// that queue too.
//
// The interface is created in the calling thread's network namespace, down,
// with the given MTU, and is removed by the kernel when the returned object is
// destroyed (unless someone made it persistent) — with multi_queue, when the
// last of it and its queues is destroyed. A queue does not refer to the object
// it was opened from, so here any order of destruction is safe (the contract
// in tun_device.h asks for queues first). An existing, unattached,
// persistent TUN of that name is reused, as wireguard-go does.
//
// AdoptLinuxTun: the same over a TUN another process opened and attached
// (wireguard-go's WG_TUN_FD); the name comes from the descriptor.
//
// Thread safety: see tun_device.h (one reader, any writers, per queue): a
// queue's WriteBatch coalescer is shared under a mutex, so concurrent
// WriteBatch calls on one queue are safe but take turns (on different queues
// they run in parallel); Write takes no lock. Queues share nothing in user
// space: each queue's reader runs alongside the others'. CreateLinuxTun is
// thread-safe.

#include <cstdint>
#include <memory>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/tun_device.h"

namespace zl::net {

// `name`: at most 15 bytes, no '/', ':' or whitespace; may contain one "%d"
// for the kernel to number it (name() then tells the result). Errors:
//   EINVAL  invalid name;
//   EBUSY   the name belongs to a non-TUN interface (or a TAP), or to a TUN
//           another process has open (for a multi-queue one: any queue
//           attached);
//   EINVAL  (also) the name is a persistent TUN of the other queue mode
//           (the message says which mode it has);
//   ENOENT  /dev/net/tun is missing (module not loaded, or a container
//           without the device);
//   EACCES  /dev/net/tun's permissions refuse us (the message says so:
//           no capability helps);
//   EPERM   opening /dev/net/tun: a device cgroup or security module
//           forbids it; TUNSETIFF: no CAP_NET_ADMIN (the message says
//           whether the process has it), or a persistent TUN of another
//           user.
inline constexpr uint32_t kDefaultTunTxQueueLen = 1024;

struct LinuxTunOptions {
  bool offload = true;
  // IFF_MULTI_QUEUE: OpenQueue then attaches more queues (tun_device.h).
  // Only for an interface we create or a persistent one created multi-
  // queue (`ip tuntap add ... multi_queue`): the kernel refuses (EINVAL) to
  // attach a multi-queue descriptor to a single-queue TUN and the other way
  // round. Off by default, so an existing single-queue persistent TUN is
  // reused as before.
  bool multi_queue = false;
  // The interface's transmit queue length in packets: how many packets
  // routed to it wait for our reader (per queue) before the kernel drops
  // them. The kernel's default for a TUN, 500, dropped 14-25 % of a 1 Gbit/s
  // UDP stream on a busy 2-core machine whenever the reader was briefly
  // descheduled; 1024 is the kernel WireGuard's own limit of packets queued
  // for encryption (MAX_QUEUED_PACKETS), and it dropped 0-1 %. 0 keeps what
  // the interface has. Set on the interface we create or reuse, not on one
  // adopted (AdoptLinuxTun).
  uint32_t tx_queue_len = kDefaultTunTxQueueLen;
};

Result<std::unique_ptr<TunDevice>> CreateLinuxTun(std::string_view name,
                                                  int mtu = kDefaultTunMtu,
                                                  LinuxTunOptions options = {});

// Takes `fd`, a /dev/net/tun descriptor already attached to an interface
// (TUNSETIFF with IFF_TUN | IFF_NO_PI, no IFF_VNET_HDR), reads the name from
// it (TUNGETIFF), makes it FD_CLOEXEC and non-blocking, and sets the MTU as
// CreateLinuxTun does. The interface must be in the calling thread's network
// namespace. Errors (the message names the descriptor): EBADF not open;
// ENOTTY, EBADFD (and other TUNGETIFF errors) not an attached TUN; EINVAL a
// TAP or the wrong flags. On error `fd` is closed.
Result<std::unique_ptr<TunDevice>> AdoptLinuxTun(UniqueFd fd,
                                                 int mtu = kDefaultTunMtu);

}  // namespace zl::net
