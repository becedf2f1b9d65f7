// zlayer-wg.exe: the userspace WireGuard interface on Windows, configured
// with wg.exe as wireguard-go's Windows build is.
//
//   zlayer-wg.exe [-f] IFNAME             run in this console until Ctrl+C
//   zlayer-wg.exe --install-service IFNAME
//   zlayer-wg.exe --uninstall-service IFNAME
//   zlayer-wg.exe --service IFNAME        (what the service manager runs)
//
// Opens (or creates) the Wintun adapter IFNAME and serves the UAPI on the
// named pipe \\.\pipe\ProtectedPrefix\Administrators\WireGuard\IFNAME. Like
// wireguard-go it configures no address, route or MTU on the adapter. It
// exits cleanly (status 0: pipe closed, peers wiped, adapter session ended)
// on Ctrl+C/Ctrl+Break, console close or logoff, a service stop, and when the
// adapter is removed. This file only parses and wires; every Windows call is
// in net/ (*_win.cc) behind neutral headers.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/random.h"
#include "device/device.h"
#include "environment.h"
#include "net/command_line.h"
#include "net/event_loop.h"
#include "net/system_service.h"
#include "net/system_tun.h"
#include "uapi/pipe_server.h"
#include "version.h"

namespace {

constexpr char kHelp[] =
    "zlayer-wg: userspace WireGuard interface on Wintun, configured with "
    "wg.exe.\n"
    "Opens or creates the Wintun adapter IFNAME and serves its configuration "
    "on the named pipe\n"
    "\\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\IFNAME "
    "(wg.exe show IFNAME, wg.exe setconf IFNAME FILE).\n"
    "Runs in this console until Ctrl+C, or as a Windows service.\n"
    "Addresses, routes and MTU are not set (as wireguard-go): use netsh or "
    "the overlay daemon.\n"
    "\n"
    "wintun.dll is looked for in %ProgramData%\\ZLayer\\wintun\\, next to "
    "zlayer-wg.exe,\n"
    "then in the working directory (https://www.wintun.net).\n"
    "\n"
    "Environment:\n"
    "  LOG_LEVEL=verbose|debug|error|info|silent   log level on stderr "
    "(default error).\n"
    "Services log to %ProgramData%\\ZLayer\\log\\zlayer-wg-IFNAME.log; they "
    "log at verbose\n"
    "level unless LOG_LEVEL is set in the service's environment.";

// The service of interface IFNAME.
std::string ServiceName(const std::string& ifname) { return "zlayer-wg$" + ifname; }

// Runs the interface until `stop_requests` ends it; `on_ready` is called once
// the adapter and the pipe are up, and `on_stop_hook` receives the function
// that stops the loop from another thread (a service's stop handler).
int RunInterface(const std::string& ifname, const std::function<void()>& on_ready,
                 const std::function<void(std::function<void()>)>& on_stop_hook) {
  auto loop_or = zl::net::EventLoop::Create();
  if (!loop_or.ok()) {
    zl::LogError("event loop: " + loop_or.error().message());
    return 1;
  }
  auto& loop = **loop_or;
  // Ctrl+C, Ctrl+Break (SIGINT); console close, logoff, shutdown (SIGTERM).
  auto sig = loop.WatchSignals({SIGINT, SIGTERM}, [&](int signo) {
    zl::LogVerbose(std::string("received ") + (signo == SIGINT ? "Ctrl+C" : "a console close") +
                   ", shutting down");
    loop.Stop();
  });
  if (!sig.ok()) {
    zl::LogError("console control handler: " + sig.error().message());
    return 1;
  }
  if (on_stop_hook) {
    on_stop_hook([&loop] {
      loop.Post([&loop] {
        zl::LogVerbose("service stop requested, shutting down");
        loop.Stop();
      });
    });
  }

  auto tun = zl::net::OpenSystemTun(ifname);
  if (!tun.ok()) {
    zl::LogError("failed to open Wintun adapter '" + ifname + "': " + tun.error().message());
    return 1;
  }
  zl::SystemClock clock;
  zl::crypto::SystemRng rng;
  zl::device::DeviceOptions options;
  options.on_tun_gone = [&] {
    zl::LogError("Wintun adapter " + ifname + " was removed, shutting down");
    loop.Stop();
  };
  auto device = zl::device::Device::Create(loop, std::move(*tun), clock, rng, std::move(options));
  if (!device.ok()) {
    zl::LogError("failed to start device: " + device.error().message());
    return 1;
  }
  auto server = zl::uapi::UapiPipeServer::Start(ifname, **device);
  if (!server.ok()) {
    (*device)->Close();
    zl::LogError("failed to create the UAPI pipe " + zl::uapi::PipePathForInterface(ifname) +
                 ": " + server.error().message());
    return 1;
  }
  zl::LogVerbose("interface " + ifname + " up, UAPI listening on " + (*server)->path() +
                 ", UDP port " + std::to_string((*device)->listen_port()));
  if (on_ready) on_ready();

  auto ran = loop.Run();
  // As on Linux: the device refuses control calls and tears down (peers
  // wiped, sockets closed, the Wintun session ended), then the pipe closes.
  (*device)->Close();
  (*server)->Stop();
  if (!ran.ok()) {
    zl::LogError("event loop failed: " + ran.error().message());
    return 1;
  }
  zl::LogVerbose("shut down cleanly");
  return 0;
}

int InstallService(const std::string& ifname) {
  auto exe = zl::net::CurrentExecutablePath();
  if (!exe.ok()) {
    std::fprintf(stderr, "zlayer-wg: %s\n", exe.error().message().c_str());
    return 1;
  }
  zl::net::ServiceDefinition def;
  def.name = ServiceName(ifname);
  def.display_name = "ZLayer WireGuard interface " + ifname;
  def.description = "Userspace WireGuard interface " + ifname +
                    " (zlayer-wg), configured with wg.exe through its named pipe.";
  def.command_line = zl::net::QuoteCommandLineArgument(*exe) + " --service " +
                     zl::net::QuoteCommandLineArgument(ifname);
  auto r = zl::net::InstallService(def, /*start=*/true);
  if (!r.ok()) {
    std::fprintf(stderr, "zlayer-wg: cannot install service %s: %s\n", def.name.c_str(),
                 r.error().message().c_str());
    return 1;
  }
  std::printf("service %s installed (LocalSystem, starts with Windows) and running\n",
              def.name.c_str());
  return 0;
}

int UninstallService(const std::string& ifname) {
  const std::string name = ServiceName(ifname);
  auto r = zl::net::UninstallService(name);
  if (!r.ok()) {
    std::fprintf(stderr, "zlayer-wg: cannot uninstall service %s: %s\n", name.c_str(),
                 r.error().message().c_str());
    return 1;
  }
  std::printf("service %s stopped and removed\n", name.c_str());
  return 0;
}

int RunService(const std::string& ifname, bool log_level_given) {
  // A service has no console: the log goes to its file (kept open until the
  // process ends).
  auto log = zl::net::OpenServiceLog("zlayer-wg-" + ifname + ".log");
  if (log.ok()) zl::SetLogFile(*log);
  if (!log_level_given) zl::SetLogLevel(zl::LogLevel::kVerbose);
  zl::LogVerbose(zl::wgtool::VersionLine());
  if (!log.ok()) zl::LogError("no log file: " + log.error().message());
  auto ran = zl::net::RunAsService(ServiceName(ifname), [&](zl::net::ServiceHost& host) {
    return RunInterface(
        ifname, [&] { host.ReportRunning(); },
        [&](std::function<void()> stop) { host.SetStopHandler(std::move(stop)); });
  });
  if (!ran.ok()) {
    std::fprintf(stderr, "zlayer-wg: %s\n", ran.error().message().c_str());
    return 1;
  }
  return *ran;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{kHelp, "zlayer-wg"};
    std::string ifname;
    bool foreground = false;
    bool install = false;
    bool uninstall = false;
    bool service = false;
    app.add_flag("-f,--foreground", foreground,
                 "Run in the foreground (always the case on Windows; accepted for wireguard-go's "
                 "command line)");
    auto* install_opt =
        app.add_flag("--install-service", install,
                     "Install IFNAME as a Windows service (LocalSystem, starts with Windows) and "
                     "start it");
    auto* uninstall_opt = app.add_flag("--uninstall-service", uninstall,
                                       "Stop and remove the Windows service of IFNAME");
    auto* service_opt =
        app.add_flag("--service", service, "Run as the service of IFNAME (for the service manager)");
    install_opt->excludes(uninstall_opt)->excludes(service_opt);
    uninstall_opt->excludes(service_opt);
    app.add_option("IFNAME", ifname, "Interface (Wintun adapter) name")->required();
    app.set_version_flag("--version", zl::wgtool::VersionLine());
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int rc = app.exit(e);
      return rc == 0 ? 0 : 2;
    }
    if (ifname.empty() || ifname.size() > 127) {
      std::fprintf(stderr, "zlayer-wg: IFNAME must be 1 to 127 characters\n");
      return 2;
    }

    auto env = zl::wgtool::ReadEnvironment();
    if (!env.ok()) {
      std::fprintf(stderr, "zlayer-wg: %s\n", env.error().message().c_str());
      return 1;
    }
    if (env->tun_fd || env->uapi_fd) {
      std::fprintf(stderr,
                   "zlayer-wg: WG_TUN_FD and WG_UAPI_FD are descriptors of Unix systems; "
                   "Windows has no equivalent\n");
      return 2;
    }
    if (!env->log_level.warning.empty()) {
      std::fprintf(stderr, "zlayer-wg: warning: %s\n", env->log_level.warning.c_str());
    }
    zl::SetLogLevel(env->log_level.level);
    zl::SetLogPrefix("(" + ifname + ")");

    if (install) return InstallService(ifname);
    if (uninstall) return UninstallService(ifname);
    if (service) return RunService(ifname, env->log_level_given);
    (void)foreground;
    zl::LogVerbose(zl::wgtool::VersionLine());
    return RunInterface(ifname, nullptr, nullptr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zlayer-wg: fatal: %s\n", e.what());
    return 1;
  }
}
