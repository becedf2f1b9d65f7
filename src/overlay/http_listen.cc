// The listening sockets the HTTP server serves, and the file limit it needs
// (declared in overlay/http_server.h).

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "net/sockaddr.h"
#include "overlay/http_server.h"

namespace zl::overlay {
namespace {

// Whether a process accepts connections at `addr`: a refused connect means
// a stale file left by a server that died; EAGAIN a live one with a full
// backlog.
bool SomeoneAnswers(const sockaddr_un& addr) {
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return false;
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr),
              sizeof(addr)) == 0) {
    return true;
  }
  return errno == EAGAIN || errno == EINPROGRESS;
}

// bind() with the umask at 0177, so the socket file is 0600 from its first
// moment: no window in which others may connect, and no chmod through a path
// someone could have swapped. The umask is process-wide; another thread
// creating a file meanwhile gets a narrower mode, never a wider one.
int BindPrivate(int fd, const sockaddr_un& addr) {
  const mode_t old_mask = umask(0177);
  const int rc =
      bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int saved = errno;
  umask(old_mask);
  errno = saved;
  return rc;
}

}  // namespace

Result<UniqueFd> ListenUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return MakeError(ENAMETOOLONG,
                     fmt::format("socket path '{}' is empty or longer than {} "
                                 "bytes",
                                 path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());

  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoError("socket(AF_UNIX)");
  if (BindPrivate(fd.get(), addr) != 0) {
    if (errno != EADDRINUSE) return ErrnoError(fmt::format("bind {}", path));
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
      return MakeError(EEXIST,
                       fmt::format("{} exists and is not a socket", path));
    }
    if (SomeoneAnswers(addr)) {
      return MakeError(EADDRINUSE,
                       fmt::format("{} is in use by a running server", path));
    }
    LogVerbose(fmt::format("HTTP: replacing stale socket {}", path));
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(fmt::format("unlink stale socket {}", path));
    }
    if (BindPrivate(fd.get(), addr) != 0) {
      return ErrnoError(fmt::format("bind {}", path));
    }
  }
  if (listen(fd.get(), SOMAXCONN) != 0) {
    const Error error = ErrnoError(fmt::format("listen {}", path));
    unlink(path.c_str());
    return error;
  }
  return fd;
}

Result<UniqueFd> ListenTcp(const Endpoint& at) {
  sockaddr_storage storage;
  const socklen_t len = net::ToSockaddr(at, &storage);
  UniqueFd fd(socket(storage.ss_family,
                     SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoError("socket(TCP)");
  const int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return ErrnoError("setsockopt(SO_REUSEADDR)");
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return ErrnoError(fmt::format("bind {}", at.ToString()));
  }
  if (listen(fd.get(), SOMAXCONN) != 0) {
    return ErrnoError(fmt::format("listen {}", at.ToString()));
  }
  return fd;
}

Result<uint16_t> BoundPort(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    return ErrnoError("getsockname");
  }
  auto endpoint = net::FromSockaddr(storage, len);
  if (!endpoint) return MakeError(EINVAL, "not an IPv4 or IPv6 socket");
  return endpoint->port();
}

Result<uint64_t> RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return ErrnoError("getrlimit(RLIMIT_NOFILE)");
  }
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t old = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return ErrnoError(fmt::format("setrlimit(RLIMIT_NOFILE, {})",
                                    static_cast<uint64_t>(limit.rlim_max)));
    }
    LogVerbose(fmt::format("open-file limit raised from {} to {}",
                           static_cast<uint64_t>(old),
                           static_cast<uint64_t>(limit.rlim_max)));
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace zl::overlay
