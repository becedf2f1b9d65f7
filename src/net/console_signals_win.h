#pragma once
// Console signals: Windows' console control events as the POSIX signal
// numbers EventLoop::WatchSignals speaks, handed to every subscribed loop.
//
//   CTRL_C_EVENT, CTRL_BREAK_EVENT         -> SIGINT
//   CTRL_CLOSE_EVENT, CTRL_SHUTDOWN_EVENT  -> SIGTERM
//   CTRL_LOGOFF_EVENT                      -> nothing (passed on)
//
// CTRL_LOGOFF_EVENT is left alone on purpose: Windows sends it only to
// services (an interactive program is gone by then), whenever *any* user logs
// off, without saying which; a service that stopped on it would stop at every
// user's logoff. A service learns of its own stop from the service manager.
//
// Windows runs the control handler on a thread of its own. It only calls each
// wanting subscriber's `deliver`, which must just post to its loop
// (EventLoop::Post) and return. It never touches a destroyed subscriber:
// deliveries run under the registry's lock, which the subscription's
// destructor takes to unregister, so once the destructor returns no delivery
// is running or will run.
//
// An event that no subscriber wants is passed on (the handler returns FALSE)
// to the next handler, in the end the default one, which ends the process:
// as an unhandled SIGINT would. For close and shutdown, Windows ends the
// process as soon as a handler returns; so after delivering those the handler
// waits, at most kConsoleCloseGrace, until every subscription that took the
// event is gone (its loop destroyed), giving the program that long to shut
// down cleanly. A program should destroy its loop last.
//
// The handler is installed (SetConsoleCtrlHandler) with the first
// subscription and stays installed; with no subscriber it passes every event
// on, as if it were not there. Installing works without a console too (a
// service), where it simply never runs.
//
// Windows-only (net/ *_win files). Thread safety: everything is thread-safe.

// clang-format off
#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>
// clang-format on

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "base/result.h"

namespace zl::net {

// How long the handler holds off the end of the process after delivering a
// close or shutdown event (Windows itself ends it after about 5 s on close).
inline constexpr auto kConsoleCloseGrace = std::chrono::seconds(5);

// The signal a control event stands for (SIGINT, SIGTERM), or 0 for none.
int SignalFromConsoleEvent(DWORD ctrl_type);

class ConsoleSignalSubscription {
 public:
  // Called on the handler's thread with the signal number.
  using Deliver = std::function<void(int signo)>;

  // Subscribes to no signal yet (see Want). Fails if the handler cannot be
  // installed.
  static Result<std::unique_ptr<ConsoleSignalSubscription>> Create(
      Deliver deliver);
  // Unregisters; waits for a delivery to this subscription in progress.
  ~ConsoleSignalSubscription();
  ConsoleSignalSubscription(const ConsoleSignalSubscription&) = delete;
  ConsoleSignalSubscription& operator=(const ConsoleSignalSubscription&) =
      delete;

  // Adds `signo` (SIGINT or SIGTERM) to the signals delivered.
  void Want(int signo);

 private:
  friend BOOL WINAPI HandleConsoleCtrlEvent(DWORD ctrl_type);

  explicit ConsoleSignalSubscription(Deliver deliver);

  Deliver deliver_;
  // Bit (1 << signo) per wanted signal; guarded by the registry's lock.
  uint64_t wanted_ = 0;
};

// The control handler itself, as installed by SetConsoleCtrlHandler. Tests
// call it directly to stand for an event: no console is needed.
BOOL WINAPI HandleConsoleCtrlEvent(DWORD ctrl_type);

}  // namespace zl::net
