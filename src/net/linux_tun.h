#pragma once
// CreateLinuxTun: a TunDevice on Linux's /dev/net/tun (IFF_TUN | IFF_NO_PI,
// one queue, no virtio-net header yet).
//
// The interface is created in the calling thread's network namespace, down,
// with the given MTU, and is removed by the kernel when the returned object is
// destroyed (unless someone made it persistent). An existing, unattached,
// persistent TUN of that name is reused, as wireguard-go does.
//
// Thread safety: see tun_device.h. CreateLinuxTun is thread-safe.

#include <memory>
#include <string_view>

#include "base/result.h"
#include "net/tun_device.h"

namespace zl::net {

// `name`: at most 15 bytes, no '/', ':' or whitespace; may contain one "%d"
// for the kernel to number it (name() then tells the result). Errors:
//   EINVAL  invalid name;
//   EBUSY   the name belongs to a non-TUN interface, or to a TUN another
//           process has open;
//   ENOENT  /dev/net/tun is missing (module not loaded, or a container
//           without the device);
//   EPERM   not root / no CAP_NET_ADMIN.
Result<std::unique_ptr<TunDevice>> CreateLinuxTun(std::string_view name,
                                                  int mtu = kDefaultTunMtu);

}  // namespace zl::net
