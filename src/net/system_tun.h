#pragma once
// OpenSystemTun: the platform's TUN device for a program that just wants one,
// so the programs above net name no platform type.
//
//   Windows: loads wintun.dll (wintun_loader_win.h: the three places, the
//            signature check; a build with ZL_WINTUN_ALLOW_UNSIGNED logs
//            kWintunUnsignedWarning first), then opens or creates the Wintun
//            adapter `name` and starts its session (wintun_tun_win.h). The
//            library stays loaded while the TunDevice lives.
//
// Linux programs call CreateLinuxTun (linux_tun.h) directly: they also adopt
// inherited descriptors, which this interface has no room for.
//
// Thread safety: may be called from any thread.

#include <memory>
#include <string_view>

#include "base/result.h"
#include "net/tun_device.h"

namespace zl::net {

Result<std::unique_ptr<TunDevice>> OpenSystemTun(std::string_view name, int mtu = kDefaultTunMtu);

}  // namespace zl::net
