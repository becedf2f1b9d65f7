// zlayer-wg: the userspace WireGuard interface, a drop-in for wireguard-go.
//
//   zlayer-wg [-f|--foreground] IFNAME
//
// Creates the TUN device IFNAME and the UAPI socket
// /var/run/wireguard/NAME.sock, NAME being the interface's real name (the
// kernel numbers a "%d" in IFNAME), so wg(8) and wg-quick(8) configure it.
// Without -f (or WG_PROCESS_FOREGROUND=1) it daemonises: the parent exits 0
// only once the interface and the socket are ready, or non-zero with the
// reason. It exits cleanly (socket removed, TUN gone, status 0) on
// SIGINT/SIGTERM, when the TUN is deleted and when the socket file is
// deleted. The environment (LOG_LEVEL, WG_TUN_FD, WG_UAPI_FD, ...) is
// described in environment.h and in --help.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "crypto/random.h"
#include "daemon.h"
#include "device/device.h"
#include "environment.h"
#include "net/event_loop.h"
#include "net/linux_tun.h"
#include "systemd_notify.h"
#include "uapi/server.h"
#include "version.h"

namespace {

using zl::wgtool::Environment;
using zl::wgtool::StartupReporter;

constexpr char kHelp[] =
    "zlayer-wg: userspace WireGuard interface, configured with wg(8) and "
    "wg-quick(8).\n"
    "Creates the TUN device IFNAME (a \"%d\" in it is numbered by the kernel) "
    "and the UAPI\n"
    "socket /var/run/wireguard/NAME.sock, NAME being the interface's real "
    "name, then runs\n"
    "in the background unless -f is given.\n"
    "Use with wg-quick: WG_QUICK_USERSPACE_IMPLEMENTATION=zlayer-wg wg-quick "
    "up CONF\n"
    "\n"
    "Environment:\n"
    "  LOG_LEVEL=verbose|debug|error|info|silent\n"
    "        log level; default error; debug means verbose and info means "
    "error; any other\n"
    "        value gets a warning and the default. In the background, logs "
    "stay on stderr\n"
    "        only when LOG_LEVEL is set (and not silent).\n"
    "  WG_PROCESS_FOREGROUND=1  stay in the foreground, as -f.\n"
    "  WG_TUN_FD=N   use the open TUN descriptor N (attached with "
    "IFF_TUN|IFF_NO_PI) instead\n"
    "        of creating IFNAME; the interface's name is read from it.\n"
    "  WG_UAPI_FD=N  serve the UAPI on descriptor N, a bound and listening "
    "unix stream socket,\n"
    "        instead of creating the socket file; at exit it is closed and "
    "the file it is\n"
    "        bound to is removed if that still is the same socket.\n"
    "  ZL_OFFLOADS=0  turn the TUN and UDP offloads off (TSO/USO, GRO, UDP "
    "GSO/GRO); they\n"
    "        are on by default, each probed at start with a fallback.\n"
    "  ZL_BUSY_POLL_US=N  after handling packets, poll for up to N "
    "microseconds (0 to 10000)\n"
    "        before sleeping, which saves a wake-up when the next packet "
    "comes soon; 0 turns\n"
    "        it off; default 50. Spins that keep finding nothing back off.\n"
    "  ZL_THREADS=N  threads that encrypt and decrypt (sharing each batch), "
    "and handshake\n"
    "        workers: N of each, 1 to 8. Default 0: two handshake workers "
    "on 2+ cores, two\n"
    "        crypto threads on 3+ cores (on 2, the application needs the "
    "other core).\n"
    "  NOTIFY_SOCKET  (systemd Type=notify, foreground only) READY=1 once "
    "the interface and\n"
    "        the socket are up, STOPPING=1 at shutdown.";

// kHelp and packaging/man/zlayer-wg.8.scd spell these out.
static_assert(zl::wgtool::kDefaultBusyPollUs == 50 &&
              zl::wgtool::kMaxBusyPollUs == 10000 && zl::wgtool::kMaxThreads == 8 &&
              zl::wgtool::kMaxTunQueues == 8);

struct Settings {
  std::string ifname;
  bool foreground = false;
  Environment env;
};

zl::Result<std::unique_ptr<zl::net::TunDevice>> OpenTun(const Settings& s) {
  if (!s.env.tun_fd) {
    auto tun = zl::net::CreateLinuxTun(s.ifname, zl::net::kDefaultTunMtu,
                                       zl::net::LinuxTunOptions{.offload = s.env.offloads,
                                                                .multi_queue = s.env.tun_queues > 1});
    if (!tun.ok()) {
      return tun.error().Wrap("failed to create TUN device '" + s.ifname + "'");
    }
    return tun;
  }
  const int fd = *s.env.tun_fd;
  auto tun = zl::net::AdoptLinuxTun(zl::UniqueFd(fd));
  if (!tun.ok()) return tun.error().Wrap("WG_TUN_FD=" + std::to_string(fd));
  if ((*tun)->name() != s.ifname) {
    zl::LogVerbose("WG_TUN_FD=" + std::to_string(fd) + " is interface " +
                   (*tun)->name() + " (not " + s.ifname + "): using " +
                   (*tun)->name());
  }
  return tun;
}

zl::Result<std::unique_ptr<zl::uapi::UapiServer>> OpenUapi(
    const Settings& s, const std::string& interface_name,
    zl::device::ControlApi& api, zl::uapi::UapiServerOptions options) {
  if (s.env.uapi_fd) {
    const int fd = *s.env.uapi_fd;
    auto server =
        zl::uapi::UapiServer::Adopt(zl::UniqueFd(fd), api, std::move(options));
    if (!server.ok()) {
      return server.error().Wrap("WG_UAPI_FD=" + std::to_string(fd));
    }
    return server;
  }
  std::string path = zl::uapi::SocketPathForInterface(interface_name);
  auto server = zl::uapi::UapiServer::Start(path, api, std::move(options));
  if (!server.ok()) {
    return server.error().Wrap("failed to create UAPI socket " + path);
  }
  return server;
}

int Run(const Settings& s, StartupReporter& reporter) {
  auto loop_or = zl::net::EventLoop::Create();
  if (!loop_or.ok()) return reporter.Fail("event loop: " + loop_or.error().message());
  auto& loop = **loop_or;
  loop.SetBusyPoll(s.env.busy_poll);
  // Block the signals before any thread starts, so the signalfd gets them.
  auto sig = loop.WatchSignals({SIGINT, SIGTERM, SIGHUP}, [&](int signo) {
    zl::LogVerbose(std::string("received ") + strsignal(signo) + ", shutting down");
    loop.Stop();
  });
  if (!sig.ok()) return reporter.Fail("signals: " + sig.error().message());
  ::signal(SIGPIPE, SIG_IGN);

  auto tun = OpenTun(s);
  if (!tun.ok()) return reporter.Fail(tun.error().message());
  // The real name ("wg%d" became "wg0") names the socket and the logs, so
  // `wg show wg0` finds it.
  const std::string ifname = (*tun)->name();
  zl::SetLogPrefix("(" + ifname + ")");

  zl::SystemClock clock;
  zl::crypto::SystemRng rng;
  zl::device::DeviceOptions options;
  options.udp_offloads = s.env.offloads;
  options.data_threads = size_t(s.env.threads);
  options.handshake_workers = size_t(s.env.threads);
  options.tun_queues = size_t(s.env.tun_queues);
  options.on_tun_gone = [&] {
    zl::LogVerbose("TUN " + ifname + " gone, stopping");
    loop.Stop();
  };
  auto device = zl::device::Device::Create(loop, std::move(*tun), clock, rng, std::move(options));
  if (!device.ok())
    return reporter.Fail("failed to start device: " + device.error().message());

  zl::uapi::UapiServerOptions uapi_options;
  // wireguard-go exits when its socket file is removed; so do we.
  uapi_options.on_socket_file_gone = [&] {
    zl::LogVerbose("UAPI socket file was removed, shutting down");
    loop.Stop();
  };
  auto server = OpenUapi(s, ifname, **device, std::move(uapi_options));
  if (!server.ok()) {
    (*device)->Close();
    return reporter.Fail(server.error().message());
  }
  const std::string where = (*server)->path().empty()
                                ? "WG_UAPI_FD=" + std::to_string(*s.env.uapi_fd)
                                : (*server)->path();
  zl::LogVerbose("interface " + ifname + " created, UAPI listening on " +
                 where);
  reporter.Ready();
  if (s.foreground) {
    zl::wgtool::NotifyReady("interface " + ifname + " up, UAPI on " + where);
  } else {
    zl::wgtool::DetachFromCaller(s.env.log_level_given &&
                                 zl::GetLogLevel() != zl::LogLevel::kSilent);
  }

  auto ran = loop.Run();
  if (s.foreground) zl::wgtool::NotifyStopping();
  // Shutdown order: the device refuses control calls and tears down (peers
  // wiped, sockets closed, TUN destroyed), then the UAPI server stops (any
  // call it still makes fails at once with ESHUTDOWN), closes its socket and
  // removes the socket file if it is still its own.
  (*device)->Close();
  (*server)->Stop();
  if (!ran.ok()) {
    zl::LogError("event loop failed: " + ran.error().message());
    return 1;
  }
  zl::LogVerbose("shut down cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{kHelp, "zlayer-wg"};
    Settings s;
    app.add_flag("-f,--foreground", s.foreground,
                 "Stay in the foreground (do not daemonise)");
    app.add_option("IFNAME", s.ifname, "Interface name (at most 15 characters)")
        ->required();
    app.set_version_flag("--version", zl::wgtool::VersionLine());
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      // --help and --version exit 0; usage errors exit 2 (not CLI11's codes).
      int rc = app.exit(e);
      return rc == 0 ? 0 : 2;
    }

    auto env = zl::wgtool::ReadEnvironment();
    if (!env.ok()) {
      std::fprintf(stderr, "zlayer-wg: %s\n", env.error().message().c_str());
      return 1;
    }
    s.env = std::move(env).value();
    s.foreground = s.foreground || s.env.foreground;
    if (!s.env.log_level.warning.empty()) {
      std::fprintf(stderr, "zlayer-wg: warning: %s\n",
                   s.env.log_level.warning.c_str());
    }
    zl::SetLogLevel(s.env.log_level.level);
    zl::SetLogPrefix("(" + s.ifname + ")");
    zl::LogVerbose(zl::wgtool::VersionLine());

    StartupReporter reporter(s.foreground ? -1 : zl::wgtool::Daemonise());
    return Run(s, reporter);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zlayer-wg: fatal: %s\n", e.what());
    return 1;
  }
}
