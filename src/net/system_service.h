#pragma once
// Windows services: installing a program as a service of the Service Control
// Manager (SCM), removing it, and running under the SCM. The programs above
// net use this neutral header; system_service_win.cc holds the SCM calls.
//
// Installed services run as LocalSystem in a process of their own
// (SERVICE_WIN32_OWN_PROCESS), start with the system (SERVICE_AUTO_START) and
// are restarted by the SCM if they fail (three times, 5 s apart). Installing
// and removing need an administrator.
//
// Under the SCM, RunAsService calls `body` on the service thread with a
// ServiceHost; the service is START_PENDING until the body calls
// ReportRunning(), STOP_PENDING once the SCM asks it to stop (the stop
// handler is called: it must only ask the body to return, e.g. post a stop to
// an event loop), and STOPPED with the body's exit code when it returns.
//
// Thread safety: the free functions from any thread. ServiceHost's methods
// from the body's thread, except that the stop handler runs on the SCM's
// dispatcher thread. Windows only (defined in system_service_win.cc).

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace zl::net {

struct ServiceDefinition {
  std::string name;          // the key: no '/' or '\', at most 256 characters
  std::string display_name;  // shown by services.msc
  std::string description;
  // The full command line the SCM runs: the program's path quoted, then its
  // arguments (net/command_line.h).
  std::string command_line;
};

// Creates the service (EEXIST if one of that name exists). If `start`, starts
// it and waits (at most `start_timeout`) until it runs; a service that stops
// instead is an error naming its exit code (the service itself logs why).
Result<void> InstallService(const ServiceDefinition& service, bool start,
                            std::chrono::milliseconds start_timeout = std::chrono::seconds(30));

// Stops the service if it runs (waiting at most `stop_timeout`) and deletes
// it. ENOENT when no service of that name exists.
Result<void> UninstallService(std::string_view name,
                              std::chrono::milliseconds stop_timeout = std::chrono::seconds(30));

// What the SCM knows of an installed service, for tests and messages.
struct ServiceInfo {
  std::string command_line;
  std::string account;  // "LocalSystem"
  bool auto_start = false;
  bool own_process = false;
};
Result<ServiceInfo> QueryService(std::string_view name);

class ServiceHost {
 public:
  virtual ~ServiceHost() = default;
  // Called (once) when the SCM asks the service to stop or the system shuts
  // down. Set it before ReportRunning().
  virtual void SetStopHandler(std::function<void()> on_stop) = 0;
  // The service is up (the SCM's StartService returns and dependants start).
  virtual void ReportRunning() = 0;
};

// Connects this process to the SCM as service `name` and runs `body` as it;
// returns when the body has returned and the SCM has been told. EINVAL-like
// error (the message says so) when the process was not started by the SCM.
// Returns the body's exit code.
Result<int> RunAsService(std::string_view name, std::function<int(ServiceHost&)> body);

// The running program's full path, UTF-8 (for a service's command line).
Result<std::string> CurrentExecutablePath();

// Opens %ProgramData%\\ZLayer\\log\\FILE_NAME for appending (creating the
// directories), for a service's log: services have no console. The caller
// owns the FILE (base/log.h's SetLogFile takes it).
Result<std::FILE*> OpenServiceLog(std::string_view file_name);

}  // namespace zl::net
