#pragma once
// The environment variables zlayer-wg reads, wireguard-go's:
//
//   LOG_LEVEL=verbose|debug|error|info|silent  the log level (default error;
//       "info" means error). Any other value, or an empty one, is not an
//       error: it gets a warning and the default (wireguard-go ignores it).
//   WG_PROCESS_FOREGROUND=1  stay in the foreground, as -f.
//   WG_TUN_FD=N   serve on the already open and attached TUN descriptor N.
//   WG_UAPI_FD=N  serve the UAPI on the already bound, listening unix
//       stream socket N.
//   ZL_OFFLOADS=0|1  ours: 0 turns the TUN and UDP offloads off (virtio-net
//       header, TSO/USO, GRO, UDP GSO/GRO), for benchmarks and debugging;
//       default 1 (each offload is still probed, with a fallback).
//   ZL_BUSY_POLL_US=N  ours: the event loop's busy-poll window in
//       microseconds, 0 to kMaxBusyPollUs (net/event_loop.h SetBusyPoll);
//       0 turns it off; default kDefaultBusyPollUs. Linux only (ignored on
//       Windows).
//   ZL_THREADS=N  ours: threads that encrypt and decrypt (the loop and N-1
//       crypto workers sharing each batch) and handshake workers, each N;
//       0 (the default) = the device's choice (two handshake workers on 2+
//       cores, two crypto threads on 3+ cores); at most kMaxThreads
//       (device/device.h DeviceOptions::data_threads, handshake_workers).
//   ZL_TUN_QUEUES=N  ours: TUN queues, 1 to kMaxTunQueues (default 1). More
//       than 1 creates a multi-queue TUN (IFF_MULTI_QUEUE), each extra queue
//       read and encrypted by a thread of its own, so several flows are
//       encrypted in parallel (DeviceOptions::tun_queues). Not with
//       WG_TUN_FD (an adopted TUN has one queue); Linux only.
//
// ReadEnvironment only parses: whether N really is a TUN or a listener is
// checked when it is adopted (net/linux_tun.h, uapi/server.h).
//
// Thread safety: ReadEnvironment reads the environment through `get`; with
// the default it must not race with setenv.

#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/log.h"
#include "base/result.h"

namespace zl::wgtool {

inline constexpr int kDefaultBusyPollUs = 50;
inline constexpr int kMaxBusyPollUs = 10000;
inline constexpr int kMaxThreads = 8;
inline constexpr int kMaxTunQueues = 8;

struct Environment {
  LogLevelChoice log_level;      // kError when LOG_LEVEL is unset
  bool log_level_given = false;  // LOG_LEVEL set and not empty
  bool foreground = false;       // WG_PROCESS_FOREGROUND=1
  std::optional<int> tun_fd;     // WG_TUN_FD
  std::optional<int> uapi_fd;    // WG_UAPI_FD
  bool offloads = true;          // ZL_OFFLOADS (not 0)
  std::chrono::microseconds busy_poll{kDefaultBusyPollUs};  // ZL_BUSY_POLL_US
  int threads = 0;  // ZL_THREADS; 0 = the device's default
  int tun_queues = 1;  // ZL_TUN_QUEUES
};

using GetEnv = std::function<const char*(const char*)>;

// Errors (EINVAL, the message names the variable): WG_TUN_FD or WG_UAPI_FD
// that is not a decimal descriptor number above 2 (0-2 are the standard
// streams, which the daemon points at /dev/null), or both the same;
// ZL_OFFLOADS other than 0 or 1; ZL_BUSY_POLL_US that is not a decimal
// number from 0 to kMaxBusyPollUs; ZL_THREADS that is not one from 0 to
// kMaxThreads; ZL_TUN_QUEUES that is not one from 1 to kMaxTunQueues, or
// above 1 together with WG_TUN_FD.
Result<Environment> ReadEnvironment(const GetEnv& get = [](const char* name) {
  return std::getenv(name);
});

// `value` of variable `name` as a descriptor number: digits only, 3 to
// INT_MAX.
Result<int> ParseDescriptorNumber(std::string_view name,
                                  std::string_view value);

}  // namespace zl::wgtool
