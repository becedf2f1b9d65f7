#include "daemon.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace zl::wgtool {

StartupReporter::~StartupReporter() {
  if (fd_ >= 0) ::close(fd_);
}

void StartupReporter::Ready() {
  if (fd_ < 0) return;
  Send("0");
  ::close(fd_);
  fd_ = -1;
}

int StartupReporter::Fail(const std::string& message) {
  if (fd_ >= 0) {
    Send("1" + message);
    ::close(fd_);
    fd_ = -1;
  } else {
    std::fprintf(stderr, "zlayer-wg: %s\n", message.c_str());
  }
  return 1;
}

void StartupReporter::Send(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += size_t(n);
  }
}

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
      std::fprintf(stderr,
                   "zlayer-wg: the daemon exited before it was ready\n");
    } else {
      std::fprintf(stderr, "zlayer-wg: %s\n", msg.c_str() + 1);
    }
    std::_Exit(1);
  }
  ::close(fds[0]);
  ::setsid();
  return fds[1];
}

void DetachFromCaller(bool keep_output) {
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    if (!keep_output) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
    ::close(null);
  }
  if (::chdir("/") != 0) {
    // Harmless: we only stay in the start directory.
  }
}

}  // namespace zl::wgtool
