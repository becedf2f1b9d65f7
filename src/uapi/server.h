#pragma once
// UapiServer: serves WireGuard's configuration protocol (uapi/codec.h) on a
// unix stream socket, normally /var/run/wireguard/IFNAME.sock, the way
// wireguard-go does (ipc/uapi_unix.go, device/uapi.go).
//
// Start() creates the socket's directory if missing (mode 0755) and refuses
// one that anyone but its owner may write to, or that is owned by anyone but
// root or us (EPERM: they could swap the socket); it replaces a stale socket
// file (one nobody answers on), refuses a live one (EADDRINUSE), creates the
// file mode 0600 through the umask at bind (the path is never chmod'ed, so a
// swapped path cannot redirect it), and serves on one thread of its own: every
// client socket is non-blocking and polled, so a slow or silent client never
// holds up another, and nothing here touches the data path. Each complete
// transaction calls the ControlApi once (Snapshot for get, Apply for set) and
// is answered (a get whose Snapshot fails with its errno, never with an empty
// configuration); several transactions per connection are served in order. A
// bad set line is answered with its errno and the connection closed; a first
// line that is not get=1/set=1 closes it without an answer (as wireguard-go).
//
// Bounds: at most max_clients connections (more are accepted and closed at
// once) and max_transaction_bytes per transaction (together at most 128 MiB
// of buffered requests by default); each transaction must be received, and
// its answer sent, within transaction_deadline of its first byte (the answer
// gets a fresh one once the ControlApi returns), so a client that trickles
// bytes cannot hold a slot; a connection with no transaction under way for
// idle_timeout is closed; and no more input is read from a client while
// max_pending_output bytes of answers wait for it to read.
//
// Socket file deletion: wireguard-go exits when its socket file is removed.
// The server watches the file (inotify) and calls on_socket_file_gone once
// when it is deleted, renamed or replaced; SocketFileStillOurs() answers the
// same question on demand. The server keeps serving open connections; what
// to do (normally: shut the device down) is the owner's decision.
//
// Inherited listener (wireguard-go's WG_UAPI_FD): Adopt() serves on a socket
// the caller already bound and made listen. Nothing is created; the file the
// socket is bound to (getsockname), if any, is watched the same way, and Stop
// closes the socket and removes that file if it still is the one found at
// Adopt (as wireguard-go, which unlinks its listener's path on close), so no
// dead socket file is left behind. A socket bound to an abstract name or to
// none has no file: nothing is watched or removed.
//
// Threads and ownership: `api` must outlive the server (until Stop returns);
// its methods are called from the server thread only, one at a time. Stop()
// and the destructor close every connection, join the thread and remove the
// socket file if it is still ours. Stop, SocketFileStillOurs and path may be
// called from any thread, except Stop from inside on_socket_file_gone.

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "base/clock.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "device/config.h"
#include "uapi/codec.h"
#include "uapi/transaction.h"

namespace zl::uapi {

// wireguard-go's socket directory (ipc.socketDirectory).
inline constexpr std::string_view kSocketDirectory = "/var/run/wireguard";

// "/var/run/wireguard/IFNAME.sock".
std::string SocketPathForInterface(std::string_view interface_name);

struct UapiServerOptions : UapiLimits {
  size_t max_pending_output = size_t{1} << 20;
  // Called once, on the server thread, when the socket file is gone.
  std::function<void()> on_socket_file_gone;
};

class UapiServer {
 public:
  // Binds `socket_path` and starts serving. Errors: EADDRINUSE when another
  // process answers on the path, EEXIST when the path is not a socket, EPERM
  // for a socket directory others could write to (see above),
  // ENAMETOOLONG for a path longer than a sockaddr_un holds, or the errno of
  // the failing mkdir/socket/bind/listen call.
  static Result<std::unique_ptr<UapiServer>> Start(
      std::string socket_path, device::ControlApi& api,
      UapiServerOptions options = {});
  // Serves on `listener`, an open, bound, listening AF_UNIX SOCK_STREAM
  // socket (see above), and sets FD_CLOEXEC and O_NONBLOCK on it. Errors:
  // EBADF when it is not open, ENOTSOCK when it is no socket, EINVAL when it
  // is another kind of socket or not listening; each message names the
  // descriptor. On error `listener` is closed.
  static Result<std::unique_ptr<UapiServer>> Adopt(
      UniqueFd listener, device::ControlApi& api,
      UapiServerOptions options = {});
  ~UapiServer();
  UapiServer(const UapiServer&) = delete;
  UapiServer& operator=(const UapiServer&) = delete;

  // Idempotent. REQUIRES: not called from on_socket_file_gone.
  void Stop();

  // True while `path()` still names the socket this server bound (same
  // device and inode); false when it has no file.
  bool SocketFileStillOurs() const;
  // The socket file; empty for an adopted socket without one.
  const std::string& path() const { return path_; }

 private:
  struct Client;
  class Loop;

  UapiServer(std::string path, UniqueFd wake_fd, uint64_t dev, uint64_t ino);
  // Starts serving on `listen_fd`, whose file (if `path` is not empty) has
  // identity `dev`/`ino`.
  static Result<std::unique_ptr<UapiServer>> Serve(std::string path,
                                                   uint64_t dev, uint64_t ino,
                                                   UniqueFd listen_fd,
                                                   device::ControlApi& api,
                                                   UapiServerOptions options);

  const std::string path_;
  UniqueFd wake_fd_;    // eventfd: Stop() wakes the loop
  const uint64_t dev_;  // identity of the socket file we bound
  const uint64_t ino_;
  std::mutex stop_mu_;          // serializes Stop()
  std::unique_ptr<Loop> loop_;  // owned by thread_ while it runs
  std::thread thread_;
};

}  // namespace zl::uapi
