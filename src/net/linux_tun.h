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
//
// The interface is created in the calling thread's network namespace, down,
// with the given MTU, and is removed by the kernel when the returned object is
// destroyed (unless someone made it persistent). An existing, unattached,
// persistent TUN of that name is reused, as wireguard-go does.
//
// AdoptLinuxTun: the same over a TUN another process opened and attached
// (wireguard-go's WG_TUN_FD); the name comes from the descriptor.
//
// Thread safety: see tun_device.h (one reader, any writers): WriteBatch's
// coalescer is shared under a mutex, so concurrent WriteBatch calls are safe
// but take turns; Write takes no lock. CreateLinuxTun is thread-safe.

#include <memory>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/tun_device.h"

namespace zl::net {

// `name`: at most 15 bytes, no '/', ':' or whitespace; may contain one "%d"
// for the kernel to number it (name() then tells the result). Errors:
//   EINVAL  invalid name;
//   EBUSY   the name belongs to a non-TUN interface, or to a TUN another
//           process has open;
//   ENOENT  /dev/net/tun is missing (module not loaded, or a container
//           without the device);
//   EACCES  /dev/net/tun's permissions refuse us (the message says so:
//           no capability helps);
//   EPERM   opening /dev/net/tun: a device cgroup or security module
//           forbids it; TUNSETIFF: no CAP_NET_ADMIN (the message says
//           whether the process has it), or a persistent TUN of another
//           user.
struct LinuxTunOptions {
  bool offload = true;
  // IFF_MULTI_QUEUE: OpenQueue then attaches more queues (tun_device.h).
  // Only for an interface we create or a persistent one created multi-
  // queue: the kernel refuses (EINVAL) to attach a multi-queue descriptor to
  // a single-queue TUN and the other way round. Off by default, so an
  // existing single-queue persistent TUN is reused as before.
  bool multi_queue = false;
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
