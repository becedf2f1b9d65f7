// zlayer-wg: the userspace WireGuard interface, a drop-in for wireguard-go.
//
//   zlayer-wg [-f|--foreground] IFNAME
//
// Creates the TUN device IFNAME and the UAPI socket
// /var/run/wireguard/IFNAME.sock, so wg(8) and wg-quick(8) configure it.
// Without -f it daemonises: the parent exits 0 only once the interface and
// the socket are ready, or non-zero with the reason. It exits cleanly (socket
// removed, TUN gone, status 0) on SIGINT/SIGTERM, when the TUN is deleted and
// when the socket file is deleted.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/random.h"
#include "device/device.h"
#include "net/event_loop.h"
#include "net/linux_tun.h"
#include "uapi/server.h"

namespace {

// Reports start-up success or failure to the waiting parent (daemon mode), or
// to stderr (foreground mode). The parent prints whatever the child sends.
class StartupReporter {
 public:
  explicit StartupReporter(int fd) : fd_(fd) {}
  void Ready() {
    if (fd_ < 0) return;
    WriteAll("0");
    ::close(fd_);
    fd_ = -1;
  }
  int Fail(const std::string& message) {
    if (fd_ >= 0) {
      WriteAll("1" + message);
      ::close(fd_);
      fd_ = -1;
    } else {
      std::fprintf(stderr, "zlayer-wg: %s\n", message.c_str());
    }
    return 1;
  }

 private:
  void WriteAll(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      off += size_t(n);
    }
  }
  int fd_;
};

std::string Explain(const zl::Error& e) {
  std::string m = e.message();
  if ((e.code() == EPERM || e.code() == EACCES) && m.find("root") == std::string::npos) {
    m += " (zlayer-wg needs root or CAP_NET_ADMIN)";
  }
  if (e.code() == ENOENT && m.find("/dev/net/tun") == std::string::npos) m += " (is /dev/net/tun present?)";
  return m;
}

int Run(const std::string& ifname, StartupReporter& reporter, bool foreground) {
  auto loop_or = zl::net::EventLoop::Create();
  if (!loop_or.ok()) return reporter.Fail("event loop: " + loop_or.error().message());
  auto& loop = **loop_or;
  // Block the signals before any thread starts, so the signalfd gets them.
  auto sig = loop.WatchSignals({SIGINT, SIGTERM, SIGHUP}, [&](int signo) {
    zl::LogVerbose(std::string("received ") + strsignal(signo) + ", shutting down");
    loop.Stop();
  });
  if (!sig.ok()) return reporter.Fail("signals: " + sig.error().message());
  ::signal(SIGPIPE, SIG_IGN);

  auto tun = zl::net::CreateLinuxTun(ifname);
  if (!tun.ok()) {
    return reporter.Fail("failed to create TUN device '" + ifname + "': " + Explain(tun.error()));
  }

  zl::SystemClock clock;
  zl::crypto::SystemRng rng;
  zl::device::DeviceOptions options;
  options.on_tun_gone = [&] {
    zl::LogVerbose("interface " + ifname + " was deleted, shutting down");
    loop.Stop();
  };
  auto device = zl::device::Device::Create(loop, std::move(*tun), clock, rng, std::move(options));
  if (!device.ok()) return reporter.Fail("failed to start device: " + Explain(device.error()));

  std::string socket_path = zl::uapi::SocketPathForInterface(ifname);
  zl::uapi::UapiServerOptions uapi_options;
  // wireguard-go exits when its socket file is removed; so do we.
  uapi_options.on_socket_file_gone = [&] {
    zl::LogVerbose("UAPI socket " + socket_path + " was removed, shutting down");
    loop.Stop();
  };
  auto server = zl::uapi::UapiServer::Start(socket_path, **device, std::move(uapi_options));
  if (!server.ok()) {
    (*device)->Close();
    return reporter.Fail("failed to create UAPI socket " + socket_path + ": " +
                         Explain(server.error()));
  }

  zl::LogVerbose("interface " + ifname + " created, UAPI listening on " + socket_path);
  reporter.Ready();
  if (!foreground) {
    // Let go of the caller's terminal or pipe, so `out=$(zlayer-wg wg0)`
    // returns. As wireguard-go: stdout and stderr stay only when LOG_LEVEL
    // asks for logs.
    const char* level = std::getenv("LOG_LEVEL");
    bool keep_logs = level != nullptr && zl::GetLogLevel() != zl::LogLevel::kSilent;
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      if (!keep_logs) {
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
      }
      ::close(null);
    }
    if (::chdir("/") != 0) {
      // Harmless: we only stay in the start directory.
    }
  }

  auto ran = loop.Run();
  // Shutdown order: the device refuses control calls and tears down (peers
  // wiped, sockets closed, TUN destroyed), then the UAPI server stops (any
  // call it still makes fails at once with ESHUTDOWN) and removes its socket.
  (*device)->Close();
  (*server)->Stop();
  if (!ran.ok()) {
    zl::LogError("event loop failed: " + ran.error().message());
    return 1;
  }
  zl::LogVerbose("shut down cleanly");
  return 0;
}

// Forks; the parent waits for the child to report readiness and exits with
// its verdict. Returns in the child only, with the write end of the pipe.
int Daemonise() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("zlayer-wg: pipe");
    std::exit(1);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("zlayer-wg: fork");
    std::exit(1);
  }
  if (pid > 0) {
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      msg.append(buf, size_t(n));
    }
    if (!msg.empty() && msg[0] == '0') std::_Exit(0);
    if (msg.empty()) {
      std::fprintf(stderr, "zlayer-wg: the daemon exited before it was ready\n");
    } else {
      std::fprintf(stderr, "zlayer-wg: %s\n", msg.c_str() + 1);
    }
    std::_Exit(1);
  }
  ::close(fds[0]);
  ::setsid();
  return fds[1];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{
        "zlayer-wg: userspace WireGuard interface, configured with wg(8) and wg-quick(8).\n"
        "Creates the TUN device IFNAME and the UAPI socket /var/run/wireguard/IFNAME.sock,\n"
        "then runs in the background unless -f is given.\n"
        "Environment: LOG_LEVEL=verbose|error|silent (default error).\n"
        "Use with wg-quick: WG_QUICK_USERSPACE_IMPLEMENTATION=zlayer-wg wg-quick up CONF",
        "zlayer-wg"};
    bool foreground = false;
    std::string ifname;
    app.add_flag("-f,--foreground", foreground, "Stay in the foreground (do not daemonise)");
    app.add_option("IFNAME", ifname, "Interface name (at most 15 characters)")->required();
    app.set_version_flag("--version", std::string("zlayer-wg ") + ZL_VERSION);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      // --help and --version exit 0; usage errors exit 2 (not CLI11's codes).
      int rc = app.exit(e);
      return rc == 0 ? 0 : 2;
    }

    if (const char* level = std::getenv("LOG_LEVEL")) {
      if (auto parsed = zl::ParseLogLevel(level)) {
        zl::SetLogLevel(*parsed);
      } else {
        std::fprintf(stderr, "zlayer-wg: LOG_LEVEL must be verbose, error or silent (got '%s')\n",
                     level);
        return 1;
      }
    }
    zl::SetLogPrefix("(" + ifname + ")");

    int ready_fd = foreground ? -1 : Daemonise();
    StartupReporter reporter(ready_fd);
    return Run(ifname, reporter, foreground);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zlayer-wg: fatal: %s\n", e.what());
    return 1;
  }
}
