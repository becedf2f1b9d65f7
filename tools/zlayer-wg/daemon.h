#pragma once
// How zlayer-wg leaves the foreground, as wireguard-go does: the parent
// waits until the interface and its socket are ready and exits with the
// child's verdict (0, or 1 and the child's reason on stderr), so
// `zlayer-wg wg0 && wg setconf wg0 ...` works.
//
// Daemonise() forks; it returns in the child only, which then reports
// through a StartupReporter made from the returned descriptor and, once
// ready, calls DetachFromCaller(). In the foreground a StartupReporter(-1)
// prints failures on stderr.
//
// Thread safety: call Daemonise before any thread is started.

#include <string>

namespace zl::wgtool {

class StartupReporter {
 public:
  // `fd`: the pipe to the waiting parent, or -1 in the foreground.
  explicit StartupReporter(int fd) : fd_(fd) {}
  ~StartupReporter();
  StartupReporter(const StartupReporter&) = delete;
  StartupReporter& operator=(const StartupReporter&) = delete;

  void Ready();
  // Reports `message` (one line, no "zlayer-wg: " prefix); returns 1, the
  // exit status.
  int Fail(const std::string& message);

 private:
  void Send(const std::string& s);
  int fd_;
};

// Forks and starts a new session in the child; returns the write end of the
// pipe to the parent (in the child). The parent never returns.
int Daemonise();

// Lets go of the caller's terminal or pipe, so `out=$(zlayer-wg wg0)`
// returns: stdin on /dev/null, and stdout and stderr too unless
// `keep_output` (wireguard-go keeps them when LOG_LEVEL asks for logs);
// the working directory becomes "/".
void DetachFromCaller(bool keep_output);

}  // namespace zl::wgtool
