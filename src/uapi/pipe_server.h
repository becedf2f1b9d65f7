#pragma once
// UapiPipeServer: serves WireGuard's configuration protocol (uapi/codec.h) on
// Windows, on the named pipe
//   \\.\pipe\ProtectedPrefix\Administrators\WireGuard\IFNAME
// as wireguard-go does (ipc/uapi_windows.go), so that wireguard-tools'
// wg.exe configures us. The unix-socket server of Linux is
// uapi/server.h; both answer transactions alike (uapi/transaction.h).
//
// The pipe's security descriptor is wireguard-go's,
// O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI): owned by LocalSystem
// (wg.exe refuses a pipe owned by anyone else: "Permission denied"), open to
// LocalSystem and Administrators only, high integrity. The listener keeps a
// free instance listening at all times (wg.exe never waits for a busy pipe)
// and refuses to start when another server has the name (EADDRINUSE);
// net/named_pipe.h says how.
//
// One thread accepts; each connection is served by a thread of its own, at
// most max_clients of them (more connections are accepted and closed at
// once). A client thread reads with a RequestParser and answers each
// complete transaction in order (several per connection): get with the
// state, set with its errno; a bad set line is answered with its errno and
// the connection closed; a first line that is not get=1/set=1 closes it
// without an answer. Bounds as on Linux (UapiLimits): max_transaction_bytes
// per transaction, each transaction received and answered within
// transaction_deadline of its first byte (a fresh one for the answer once the
// ControlApi returns), idle connections closed after idle_timeout.
//
// Threads and ownership: `api` must outlive the server (until Stop returns);
// its methods are called from the client threads, one call at a time. Stop()
// is idempotent and prompt: it ends the accept and every blocked read or
// write at once, waits for a ControlApi call under way, and joins every
// thread. Stop and path may be called from any thread.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "device/config.h"
#include "net/named_pipe.h"
#include "uapi/transaction.h"

namespace zl::uapi {

// wireguard-go's pipe directory (ipc/uapi_windows.go), with the trailing
// backslash.
inline constexpr std::string_view kPipeDirectory =
    R"(\\.\pipe\ProtectedPrefix\Administrators\WireGuard\)";
// wireguard-go's UAPISecurityDescriptor.
inline constexpr std::string_view kPipeSecurityDescriptor =
    "O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)";

// "\\.\pipe\ProtectedPrefix\Administrators\WireGuard\IFNAME".
std::string PipePathForInterface(std::string_view interface_name);

struct UapiPipeServerOptions : UapiLimits {
  // Tests only: another pipe than PipePathForInterface(interface_name), or
  // another descriptor. Empty: the defaults.
  std::string pipe_path;
  std::string security_descriptor;
};

class UapiPipeServer {
 public:
  // Creates the pipe and starts serving. Errors: EADDRINUSE when another
  // server has the pipe, EPERM when we may not make LocalSystem its owner,
  // or the failing call's (net/named_pipe.h).
  static Result<std::unique_ptr<UapiPipeServer>> Start(
      std::string_view interface_name, device::ControlApi& api,
      UapiPipeServerOptions options = {});
  ~UapiPipeServer();
  UapiPipeServer(const UapiPipeServer&) = delete;
  UapiPipeServer& operator=(const UapiPipeServer&) = delete;

  // Idempotent; any thread.
  void Stop();

  const std::string& path() const { return path_; }

 private:
  struct Client;

  UapiPipeServer(std::unique_ptr<net::NamedPipeListener> listener,
                 device::ControlApi& api, UapiPipeServerOptions options);
  void AcceptLoop();
  // Serves one connection until it ends, fails a bound, or Stop.
  void Serve(net::PipeConnection& connection);

  const std::string path_;
  const UapiPipeServerOptions options_;
  device::ControlApi& api_;
  std::mutex api_mu_;  // one ControlApi call at a time
  std::unique_ptr<net::NamedPipeListener> listener_;

  std::mutex stop_mu_;  // serializes Stop()
  // Wakes the accept thread from its pause after a failed accept.
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  bool stopping_ = false;  // GUARDED_BY(pause_mu_)
  std::thread accept_thread_;
  // Owned by the accept thread while it runs, then by Stop().
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace zl::uapi
