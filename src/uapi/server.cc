#include "uapi/server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <vector>

#include "base/log.h"
#include "base/thread_name.h"
#include "uapi/transaction.h"

namespace zl::uapi {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Without inotify the loop looks at the socket file this often.
constexpr auto kSocketFileCheckInterval = std::chrono::seconds(1);

MonoTime MonoNow() { return BootClock::now(); }

Result<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return MakeError(
        ENAMETOOLONG,
        fmt::format("UAPI socket path '{}' is empty or longer than {} bytes",
                    path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// The error of a failed call `what` on a file; for EACCES also who we are:
// the socket directory must be writable by this user, and no capability
// that zlayer-wg needs (CAP_NET_ADMIN) grants that.
Error FileError(std::string_view what) {
  const int err = errno;
  Error e = ErrnoError(err, what);
  if (err != EACCES) return e;
  return Error(err, fmt::format("{} (uid {} may not write there)", e.message(),
                                geteuid()));
}

// mkdir -p with mode 0755 for every directory it creates.
Result<void> MakeDirectories(const std::string& dir) {
  if (dir.empty()) return Ok();
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Ok();
    return MakeError(ENOTDIR, fmt::format("'{}' is not a directory", dir));
  }
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    ZL_RETURN_IF_ERROR(MakeDirectories(dir.substr(0, slash)));
  }
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return FileError(fmt::format("mkdir {}", dir));
  }
  return Ok();
}

// Anyone but us and root who can write to the socket's directory can unlink
// our socket and put theirs, or a symlink, in its place: such a directory is
// refused (wireguard-go takes /var/run/wireguard as it finds it). `dir` is
// followed if it is a symlink; the directory it names is what counts.
Result<void> CheckSocketDirectory(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0)
    return ErrnoError(fmt::format("stat {}", dir));
  if (!S_ISDIR(st.st_mode)) {
    return MakeError(ENOTDIR, fmt::format("'{}' is not a directory", dir));
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return MakeError(
        EPERM,
        fmt::format("UAPI socket directory {} is owned by uid {}, not by "
                    "root or by us: refusing to serve there (its owner "
                    "could replace the socket)",
                    dir, st.st_uid));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return MakeError(
        EPERM,
        fmt::format("UAPI socket directory {} is writable by group or "
                    "others (mode {:04o}): refusing to serve there; make "
                    "it writable by its owner only (e.g. root, 0755)",
                    dir, st.st_mode & 07777));
  }
  return Ok();
}

// Whether a process accepts connections on `addr` (wireguard-go's test for a
// live socket before it removes a stale one).
bool SomeoneListens(const sockaddr_un& addr) {
  UniqueFd probe(
      socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) return false;
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr),
              sizeof(addr)) == 0) {
    return true;
  }
  // EAGAIN: alive with a full backlog. ECONNREFUSED: stale. ENOENT: gone.
  return errno == EAGAIN || errno == EINPROGRESS;
}

Result<UniqueFd> BindSocket(const std::string& path, const sockaddr_un& addr) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoError("socket(AF_UNIX)");
  for (int attempt = 0;; ++attempt) {
    // bind creates the file with mode 0777 & ~umask, so the umask alone
    // makes it 0600 (0177 rather than wireguard-go's 077, whose 0700 means
    // the same on a socket). Never chmod the path afterwards: by then it may
    // name something else. The umask is process-wide; another thread that
    // creates a file meanwhile only gets a stricter mode.
    const mode_t old_umask = umask(0177);
    const int rc =
        bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    const int bind_errno = errno;
    umask(old_umask);
    if (rc == 0) break;
    errno = bind_errno;
    if (errno != EADDRINUSE || attempt > 0) {
      return FileError(fmt::format("bind {}", path));
    }
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
      return MakeError(EEXIST,
                       fmt::format("{} exists and is not a socket", path));
    }
    if (SomeoneListens(addr)) {
      return MakeError(
          EADDRINUSE,
          fmt::format("UAPI socket {} is in use by another process", path));
    }
    LogVerbose(fmt::format("UAPI: replacing stale socket {}", path));
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return FileError(fmt::format("unlink stale socket {}", path));
    }
  }
  return fd;
}

// Why `fd` cannot be served on as an inherited UAPI listener, if it cannot:
// it must be an open, listening AF_UNIX stream socket.
Result<void> CheckListener(int fd) {
  if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
    return MakeError(EBADF, fmt::format("descriptor {} is not open", fd));
  }
  auto option = [fd](int name) -> Result<int> {
    int value = 0;
    socklen_t len = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, name, &value, &len) != 0) {
      return ErrnoError(
          fmt::format("descriptor {} is not a socket: getsockopt", fd));
    }
    return value;
  };
  auto domain = option(SO_DOMAIN);
  if (!domain.ok()) return domain.error();
  auto type = option(SO_TYPE);
  if (!type.ok()) return type.error();
  auto listening = option(SO_ACCEPTCONN);
  if (!listening.ok()) return listening.error();
  if (*domain != AF_UNIX || *type != SOCK_STREAM) {
    return MakeError(EINVAL,
                     fmt::format("descriptor {} is not a unix stream socket "
                                 "(domain {}, type {})",
                                 fd, *domain, *type));
  }
  if (*listening != 1) {
    return MakeError(EINVAL,
                     fmt::format("descriptor {} is a unix stream socket but "
                                 "not listening (call listen() first)",
                                 fd));
  }
  return Ok();
}

// The absolute path of the file `fd` is bound to; empty for an abstract or
// unnamed socket. A relative path is taken from the current directory now,
// before anything changes it.
std::string BoundPath(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return {};
  }
  const size_t offset = offsetof(sockaddr_un, sun_path);
  if (len <= offset || addr.sun_path[0] == '\0') return {};
  std::string path(addr.sun_path, strnlen(addr.sun_path, len - offset));
  if (path.front() != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) return {};
    path = std::string(cwd) + "/" + path;
  }
  return path;
}

}  // namespace

std::string SocketPathForInterface(std::string_view interface_name) {
  return fmt::format("{}/{}.sock", kSocketDirectory, interface_name);
}

struct UapiServer::Client {
  UniqueFd fd;
  RequestParser parser;
  // Both may hold keys in hex (a set's private key, a get's answer): they
  // wipe whatever they drop.
  crypto::SecretBuffer in;  // received, not yet fed to the parser (from in_off)
  size_t in_off = 0;
  crypto::SecretBuffer out;  // answers not yet sent (from out_off)
  size_t out_off = 0;
  bool eof = false;      // the client shut down its side
  bool closing = false;  // close once `out` is sent
  bool dead = false;     // close now
  // While a transaction is under way (bytes of it read, or its answer not
  // yet sent): when it must be done. Otherwise unset, and `idle_since` says
  // since when the connection has had nothing to do.
  std::optional<MonoTime> deadline;
  MonoTime idle_since;

  Client(UniqueFd f, size_t max_transaction_bytes, MonoTime now)
      : fd(std::move(f)), parser(max_transaction_bytes), idle_since(now) {}
  size_t pending_out() const { return out.size() - out_off; }
  bool Busy() const {
    return parser.InTransaction() || pending_out() > 0 || in_off < in.size();
  }
  // When the server must look at this client again if nothing happens.
  MonoTime Due(Duration idle_timeout) const {
    return deadline ? *deadline : idle_since + idle_timeout;
  }
};

// Everything the server thread owns. Only Run() touches it, on that thread.
class UapiServer::Loop {
 public:
  Loop(const UapiServer& owner, device::ControlApi& api,
       UapiServerOptions options, UniqueFd listen_fd, UniqueFd inotify_fd,
       bool has_socket_file)
      : owner_(owner),
        api_(api),
        options_(std::move(options)),
        listen_fd_(std::move(listen_fd)),
        inotify_fd_(std::move(inotify_fd)),
        // Without a file (an inherited socket bound to no path) there is
        // nothing to watch and nothing to lose.
        socket_file_gone_(!has_socket_file) {}

  void Run(int wake_fd);

 private:
  void Accept();
  void CheckSocketFile();
  void Service(Client& c, short revents);
  bool ReadAllowed(const Client& c) const {
    return !c.closing && !c.eof && c.in_off == c.in.size() &&
           c.pending_out() < options_.max_pending_output;
  }
  void Read(Client& c);
  void Process(Client& c);
  // Starts or ends the transaction deadline; closes a client past it or idle.
  void CheckTimes(Client& c, MonoTime now);
  void Flush(Client& c);

  const UapiServer& owner_;
  device::ControlApi& api_;
  const UapiServerOptions options_;
  UniqueFd listen_fd_;
  UniqueFd inotify_fd_;
  std::vector<std::unique_ptr<Client>> clients_;
  bool socket_file_gone_;  // or never had one
  MonoTime next_file_check_;
};

void UapiServer::Loop::Run(int wake_fd) {
  std::vector<pollfd> fds;
  for (;;) {
    MonoTime now = MonoNow();
    fds.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    fds.push_back({listen_fd_.get(), POLLIN, 0});
    fds.push_back({inotify_fd_.get(), POLLIN, 0});  // fd -1 is ignored by poll
    Duration wait = Duration::max();
    for (const auto& c : clients_) {
      short events = 0;
      if (ReadAllowed(*c)) events |= POLLIN;
      if (c->pending_out() > 0) events |= POLLOUT;
      fds.push_back({c->fd.get(), events, 0});
      wait = std::min(wait, c->Due(options_.idle_timeout) - now);
    }
    if (!inotify_fd_ && !socket_file_gone_) {
      wait = std::min(wait, next_file_check_ - now);
    }
    int timeout_ms = -1;
    if (wait != Duration::max()) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
      timeout_ms = int(std::clamp<int64_t>(ms, 0, 60'000));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      LogError(fmt::format("UAPI: poll failed: {}", std::strerror(errno)));
      return;
    }
    if (fds[0].revents != 0) return;  // woken by Stop()
    if (fds[1].revents != 0) Accept();
    if (fds[2].revents != 0) {
      // Drain the events; what matters is the file's state now.
      alignas(inotify_event) char buf[4096];
      while (read(inotify_fd_.get(), buf, sizeof(buf)) > 0) {
      }
      CheckSocketFile();
    }
    now = MonoNow();
    if (!inotify_fd_ && !socket_file_gone_ && now >= next_file_check_) {
      next_file_check_ = now + kSocketFileCheckInterval;
      CheckSocketFile();
    }
    // Clients accepted in this round are past the end of `fds`.
    for (size_t i = 3; i < fds.size(); ++i) {
      Client& c = *clients_[i - 3];
      if (fds[i].revents != 0) Service(c, fds[i].revents);
      if (!c.dead) CheckTimes(c, MonoNow());
    }
    std::erase_if(clients_, [](const auto& c) { return c->dead; });
  }
}

void UapiServer::Loop::Accept() {
  for (;;) {
    UniqueFd fd(accept4(listen_fd_.get(), nullptr, nullptr,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        LogError(fmt::format("UAPI: accept failed: {}", std::strerror(errno)));
      }
      return;
    }
    if (clients_.size() >= options_.max_clients) {
      LogVerbose(fmt::format("UAPI: refusing a connection: {} clients already",
                             clients_.size()));
      continue;  // closed by UniqueFd
    }
    clients_.push_back(std::make_unique<Client>(
        std::move(fd), options_.max_transaction_bytes, MonoNow()));
  }
}

void UapiServer::Loop::CheckTimes(Client& c, MonoTime now) {
  if (c.Busy()) {
    if (!c.deadline) c.deadline = now + options_.transaction_deadline;
  } else if (c.deadline) {
    c.deadline.reset();
    c.idle_since = now;
  }
  if (c.deadline && now >= *c.deadline) {
    LogVerbose(
        "UAPI: closing a connection whose transaction missed its deadline");
    c.dead = true;
  } else if (!c.deadline && now - c.idle_since >= options_.idle_timeout) {
    LogVerbose("UAPI: closing an idle connection");
    c.dead = true;
  }
}

void UapiServer::Loop::CheckSocketFile() {
  if (socket_file_gone_ || owner_.SocketFileStillOurs()) return;
  socket_file_gone_ = true;
  LogVerbose(fmt::format("UAPI: socket file {} was removed", owner_.path()));
  if (options_.on_socket_file_gone) options_.on_socket_file_gone();
}

void UapiServer::Loop::Service(Client& c, short revents) {
  if (c.pending_out() > 0) Flush(c);
  if (!c.dead && (revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
      ReadAllowed(c)) {
    Read(c);
  }
  if (!c.dead) Process(c);
  if (!c.dead) Flush(c);
  // A hang-up shows as EOF on read or EPIPE on send, handled above.
  if ((revents & POLLERR) != 0) c.dead = true;
}

void UapiServer::Loop::Read(Client& c) {
  size_t old = c.in.size();
  c.in.resize(old + kReadChunk);
  ssize_t n;
  do {
    n = recv(c.fd.get(), c.in.data() + old, kReadChunk, 0);
  } while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : 0;
  c.in.resize(old + size_t(std::max<ssize_t>(n, 0)));
  if (n == 0) {
    c.eof = true;
  } else if (n < 0 && err != EAGAIN && err != EWOULDBLOCK) {
    c.dead = true;
  }
}

void UapiServer::Loop::Process(Client& c) {
  using Status = RequestParser::Status;
  while (!c.closing && c.pending_out() < options_.max_pending_output) {
    if (c.in_off < c.in.size()) {
      c.in_off += c.parser.Feed(
          ByteSpan(reinterpret_cast<const uint8_t*>(c.in.data()) + c.in_off,
                   c.in.size() - c.in_off));
    } else if (c.eof) {
      c.parser.FeedEof();
      if (c.parser.status() == Status::kNeedMore) {
        c.closing = true;  // a clean end between transactions
      }
    } else {
      break;  // wait for more bytes
    }
    if (c.parser.status() == Status::kNeedMore) continue;
    if (FinishTransaction(c.parser, api_, c.out) == TransactionEnd::kClose) {
      c.closing = true;
    } else {
      // The answer, and a pipelined next transaction, get a deadline of
      // their own from when the device answered (a large set takes a while).
      c.deadline = MonoNow() + options_.transaction_deadline;
    }
  }
  if (c.in_off == c.in.size()) {
    c.in.clear();
    c.in_off = 0;
  }
}

void UapiServer::Loop::Flush(Client& c) {
  while (c.pending_out() > 0) {
    ssize_t n = send(c.fd.get(), c.out.data() + c.out_off, c.pending_out(),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out_off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    c.dead = true;  // EPIPE, ECONNRESET: the client is gone
    return;
  }
  c.out.clear();
  c.out_off = 0;
  if (c.closing) c.dead = true;
}

Result<std::unique_ptr<UapiServer>> UapiServer::Start(
    std::string socket_path, device::ControlApi& api,
    UapiServerOptions options) {
  auto addr = UnixAddress(socket_path);
  if (!addr.ok()) return addr.error();
  const size_t slash = socket_path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                       : socket_path.substr(0, slash);
  ZL_RETURN_IF_ERROR(MakeDirectories(dir));
  ZL_RETURN_IF_ERROR(CheckSocketDirectory(dir));
  auto bound = BindSocket(socket_path, *addr);
  if (!bound.ok()) return bound.error();
  UniqueFd listen_fd = std::move(bound).value();

  // From here on the socket file is ours: remove it on any failure.
  auto fail = [&](Error e) {
    unlink(socket_path.c_str());
    return e;
  };
  struct stat st;
  if (lstat(socket_path.c_str(), &st) != 0) {
    return fail(ErrnoError("lstat UAPI socket"));
  }
  if (listen(listen_fd.get(), SOMAXCONN) != 0) {
    return fail(ErrnoError("listen UAPI socket"));
  }
  auto server = Serve(socket_path, uint64_t(st.st_dev), uint64_t(st.st_ino),
                      std::move(listen_fd), api, std::move(options));
  if (!server.ok()) return fail(server.error());
  return server;
}

Result<std::unique_ptr<UapiServer>> UapiServer::Adopt(
    UniqueFd listener, device::ControlApi& api, UapiServerOptions options) {
  ZL_RETURN_IF_ERROR(CheckListener(listener.get()));
  const int fd = listener.get();
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return ErrnoError(fmt::format("descriptor {}: set FD_CLOEXEC", fd));
  }
  // Accept() drains the backlog until EAGAIN.
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return ErrnoError(fmt::format("descriptor {}: set O_NONBLOCK", fd));
  }
  // The file the socket is bound to, if it has one, is watched and removed
  // at Stop like Start's. Trusted as found: whoever could have swapped it
  // since the caller bound it can write to its directory anyway.
  std::string path = BoundPath(fd);
  uint64_t dev = 0, ino = 0;
  struct stat st;
  if (!path.empty() && lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    dev = uint64_t(st.st_dev);
    ino = uint64_t(st.st_ino);
  } else {
    if (!path.empty()) {
      LogVerbose(fmt::format(
          "UAPI: inherited socket's file {} is not there; not watching it",
          path));
    }
    path.clear();
  }
  return Serve(std::move(path), dev, ino, std::move(listener), api,
               std::move(options));
}

Result<std::unique_ptr<UapiServer>> UapiServer::Serve(
    std::string path, uint64_t dev, uint64_t ino, UniqueFd listen_fd,
    device::ControlApi& api, UapiServerOptions options) {
  UniqueFd wake_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd) return ErrnoError("eventfd");

  // IN_ATTRIB: unlinking a socket another process still holds changes its
  // link count; the inode itself lives on (wireguard-go watches the same).
  UniqueFd inotify_fd;
  if (!path.empty()) {
    inotify_fd.Reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!inotify_fd ||
        inotify_add_watch(inotify_fd.get(), path.c_str(),
                          IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
      LogError(fmt::format(
          "UAPI: cannot watch {} ({}); checking it every second instead", path,
          std::strerror(errno)));
      inotify_fd.Reset();
    }
  }

  const bool has_file = !path.empty();
  std::unique_ptr<UapiServer> server(
      new UapiServer(std::move(path), std::move(wake_fd), dev, ino));
  server->loop_ = std::make_unique<Loop>(*server, api, std::move(options),
                                         std::move(listen_fd),
                                         std::move(inotify_fd), has_file);
  server->thread_ =
      std::thread([s = server.get()] {
        SetThreadName("zl-uapi");
        s->loop_->Run(s->wake_fd_.get());
      });
  return server;
}

UapiServer::UapiServer(std::string path, UniqueFd wake_fd, uint64_t dev,
                       uint64_t ino)
    : path_(std::move(path)),
      wake_fd_(std::move(wake_fd)),
      dev_(dev),
      ino_(ino) {}

UapiServer::~UapiServer() { Stop(); }

void UapiServer::Stop() {
  std::lock_guard lock(stop_mu_);
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  if (write(wake_fd_.get(), &one, sizeof(one)) != sizeof(one)) {
    LogError(fmt::format("UAPI: cannot wake the server thread: {}",
                         std::strerror(errno)));
  }
  thread_.join();
  // Unlink while still listening: a process starting meanwhile finds the
  // socket live and does not take the path from under us.
  if (!path_.empty() && SocketFileStillOurs()) unlink(path_.c_str());
  loop_.reset();  // closes the listening socket and every connection
}

bool UapiServer::SocketFileStillOurs() const {
  if (path_.empty()) return false;
  struct stat st;
  return lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
         uint64_t(st.st_dev) == dev_ && uint64_t(st.st_ino) == ino_;
}

}  // namespace zl::uapi
