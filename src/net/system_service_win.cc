#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <cstdio>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "net/system_service.h"
#include "net/known_paths_win.h"
#include "net/win32_error_win.h"
#include "net/win_text_win.h"

namespace zl::net {
namespace {

// Closes an SC_HANDLE.
struct ScHandleCloser {
  void operator()(SC_HANDLE h) const {
    if (h != nullptr) CloseServiceHandle(h);
  }
};
using ScHandle = std::unique_ptr<std::remove_pointer_t<SC_HANDLE>, ScHandleCloser>;

constexpr DWORD kRestartDelayMs = 5000;
constexpr auto kPollInterval = std::chrono::milliseconds(100);

Result<ScHandle> OpenManager(DWORD access) {
  ScHandle scm(OpenSCManagerW(nullptr, nullptr, access));
  if (!scm) return LastWin32Error("OpenSCManager (installing a service needs an administrator)");
  return scm;
}

Result<ScHandle> OpenNamedService(SC_HANDLE scm, std::string_view name, DWORD access) {
  ScHandle service(OpenServiceW(scm, WideFromUtf8(name).c_str(), access));
  if (!service) {
    const DWORD code = GetLastError();
    if (code == ERROR_SERVICE_DOES_NOT_EXIST) {
      return MakeError(ENOENT, "service '" + std::string(name) + "' is not installed");
    }
    return Win32Error(code, "OpenService '" + std::string(name) + "'");
  }
  return service;
}

Result<SERVICE_STATUS> QueryStatus(SC_HANDLE service, std::string_view name) {
  SERVICE_STATUS status{};
  if (!QueryServiceStatus(service, &status)) {
    return LastWin32Error("QueryServiceStatus '" + std::string(name) + "'");
  }
  return status;
}

// Polls until the service's state is `want` or it leaves `pending`; bounded
// by `timeout`.
Result<SERVICE_STATUS> WaitForState(SC_HANDLE service, std::string_view name, DWORD want,
                                    DWORD pending, std::chrono::milliseconds timeout) {
  const auto deadline = BootClock::now() + timeout;
  for (;;) {
    auto status = QueryStatus(service, name);
    if (!status.ok()) return status.error();
    if (status->dwCurrentState == want || status->dwCurrentState != pending) return status;
    if (BootClock::now() >= deadline) {
      return MakeError(ETIMEDOUT, "service '" + std::string(name) + "' is still " +
                                      (pending == SERVICE_START_PENDING ? "starting" : "stopping") +
                                      " after " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string ExitCodeText(const SERVICE_STATUS& status) {
  if (status.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR) {
    return "exit code " + std::to_string(status.dwServiceSpecificExitCode);
  }
  return "Win32 error " + std::to_string(status.dwWin32ExitCode);
}

// --- running under the SCM ---------------------------------------------------

class ScmHost final : public ServiceHost {
 public:
  ScmHost() = default;
  // Before any Report: the handle RegisterServiceCtrlHandlerEx returned.
  void Attach(SERVICE_STATUS_HANDLE handle) { handle_ = handle; }

  void SetStopHandler(std::function<void()> on_stop) override {
    std::lock_guard<std::mutex> lock(mu_);
    on_stop_ = std::move(on_stop);
  }

  void ReportRunning() override {
    Report(SERVICE_RUNNING, NO_ERROR, 0);
  }

  void ReportStopped(int exit_code) {
    if (exit_code == 0) {
      Report(SERVICE_STOPPED, NO_ERROR, 0);
    } else {
      Report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, static_cast<DWORD>(exit_code));
    }
  }

  void ReportStartPending() { Report(SERVICE_START_PENDING, NO_ERROR, 0); }

  // On the dispatcher thread.
  DWORD OnControl(DWORD control) {
    switch (control) {
      case SERVICE_CONTROL_STOP:
      case SERVICE_CONTROL_SHUTDOWN: {
        Report(SERVICE_STOP_PENDING, NO_ERROR, 0);
        std::function<void()> stop;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stop_requested_) return NO_ERROR;
          stop_requested_ = true;
          stop = on_stop_;
        }
        if (stop) stop();
        return NO_ERROR;
      }
      case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
      default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
  }

 private:
  void Report(DWORD state, DWORD win32_exit, DWORD specific_exit) {
    std::lock_guard<std::mutex> lock(report_mu_);
    SERVICE_STATUS status{};
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    status.dwWin32ExitCode = win32_exit;
    status.dwServiceSpecificExitCode = specific_exit;
    status.dwCheckPoint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING
                              ? ++checkpoint_
                              : 0;
    status.dwWaitHint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING ? 30000 : 0;
    SetServiceStatus(handle_, &status);
  }

  SERVICE_STATUS_HANDLE handle_ = nullptr;
  std::mutex mu_;
  std::function<void()> on_stop_;
  bool stop_requested_ = false;
  std::mutex report_mu_;
  DWORD checkpoint_ = 0;
};

// The dispatcher's callbacks take no context argument for ServiceMain, so the
// one service this process runs is described here (RunAsService is called
// once per process).
struct ServiceRun {
  std::wstring name;
  std::function<int(ServiceHost&)> body;
  int exit_code = 0;
  bool ran = false;
  std::optional<Error> error;
};
std::atomic<ServiceRun*> g_run{nullptr};

DWORD WINAPI ControlHandler(DWORD control, DWORD, LPVOID, LPVOID context) {
  return static_cast<ScmHost*>(context)->OnControl(control);
}

void WINAPI ServiceMain(DWORD, LPWSTR*) {
  ServiceRun* run = g_run.load();
  if (run == nullptr) return;
  // The host must exist before the handler can be called with it.
  auto host = std::make_unique<ScmHost>();
  SERVICE_STATUS_HANDLE handle =
      RegisterServiceCtrlHandlerExW(run->name.c_str(), ControlHandler, host.get());
  if (handle == nullptr) {
    run->error = LastWin32Error("RegisterServiceCtrlHandlerEx");
    return;
  }
  host->Attach(handle);
  host->ReportStartPending();
  run->ran = true;
  run->exit_code = run->body(*host);
  host->ReportStopped(run->exit_code);
}

}  // namespace

Result<void> InstallService(const ServiceDefinition& service, bool start,
                            std::chrono::milliseconds start_timeout) {
  if (service.name.empty() || service.name.size() > 256 ||
      service.name.find_first_of("/\\") != std::string::npos) {
    return MakeError(EINVAL, "invalid service name '" + service.name +
                                 "': 1 to 256 characters, no '/' or '\\'");
  }
  auto scm = OpenManager(SC_MANAGER_CREATE_SERVICE | SC_MANAGER_CONNECT);
  if (!scm.ok()) return scm.error();
  ScHandle created(CreateServiceW(
      scm->get(), WideFromUtf8(service.name).c_str(), WideFromUtf8(service.display_name).c_str(),
      SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
      WideFromUtf8(service.command_line).c_str(), nullptr, nullptr, nullptr,
      nullptr /* LocalSystem */, nullptr));
  if (!created) {
    const DWORD code = GetLastError();
    if (code == ERROR_SERVICE_EXISTS) {
      return MakeError(EEXIST, "service '" + service.name +
                                   "' is already installed (uninstall it first)");
    }
    if (code == ERROR_DUPLICATE_SERVICE_NAME) {
      return MakeError(EEXIST, "another service already has the display name '" +
                                   service.display_name + "'");
    }
    return Win32Error(code, "CreateService '" + service.name + "'");
  }
  // Description and restart-on-failure are extras: a failure to set them
  // leaves a working service, so they are not errors.
  std::wstring description = WideFromUtf8(service.description);
  SERVICE_DESCRIPTIONW desc{description.data()};
  ChangeServiceConfig2W(created.get(), SERVICE_CONFIG_DESCRIPTION, &desc);
  SC_ACTION actions[3] = {{SC_ACTION_RESTART, kRestartDelayMs},
                          {SC_ACTION_RESTART, kRestartDelayMs},
                          {SC_ACTION_RESTART, kRestartDelayMs}};
  SERVICE_FAILURE_ACTIONSW failure{};
  failure.dwResetPeriod = 24 * 3600;
  failure.cActions = 3;
  failure.lpsaActions = actions;
  ChangeServiceConfig2W(created.get(), SERVICE_CONFIG_FAILURE_ACTIONS, &failure);

  if (!start) return Ok();
  // The SCM answers ERROR_SERVICE_DATABASE_LOCKED while it is busy (at boot,
  // or starting another service): try again until start_timeout.
  const auto start_deadline = BootClock::now() + start_timeout;
  while (!StartServiceW(created.get(), 0, nullptr)) {
    const DWORD code = GetLastError();
    if (code != ERROR_SERVICE_DATABASE_LOCKED || BootClock::now() >= start_deadline) {
      return Win32Error(code, "StartService '" + service.name + "' (installed, not running)");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  auto status = WaitForState(created.get(), service.name, SERVICE_RUNNING, SERVICE_START_PENDING,
                             start_timeout);
  if (!status.ok()) return status.error();
  if (status->dwCurrentState != SERVICE_RUNNING) {
    return MakeError(EIO, "service '" + service.name + "' was installed but stopped at start (" +
                              ExitCodeText(*status) + "): see its log");
  }
  return Ok();
}

Result<void> UninstallService(std::string_view name, std::chrono::milliseconds stop_timeout) {
  auto scm = OpenManager(SC_MANAGER_CONNECT);
  if (!scm.ok()) return scm.error();
  auto service = OpenNamedService(scm->get(), name, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
  if (!service.ok()) return service.error();
  auto status = QueryStatus(service->get(), name);
  if (!status.ok()) return status.error();
  if (status->dwCurrentState != SERVICE_STOPPED) {
    SERVICE_STATUS ignored{};
    if (status->dwCurrentState != SERVICE_STOP_PENDING &&
        !ControlService(service->get(), SERVICE_CONTROL_STOP, &ignored)) {
      const DWORD code = GetLastError();
      if (code != ERROR_SERVICE_NOT_ACTIVE) {
        return Win32Error(code, "stopping service '" + std::string(name) + "'");
      }
    }
    auto stopped =
        WaitForState(service->get(), name, SERVICE_STOPPED, SERVICE_STOP_PENDING, stop_timeout);
    if (!stopped.ok()) return stopped.error();
  }
  if (!DeleteService(service->get())) {
    const DWORD code = GetLastError();
    if (code != ERROR_SERVICE_MARKED_FOR_DELETE) {
      return Win32Error(code, "DeleteService '" + std::string(name) + "'");
    }
  }
  return Ok();
}

Result<ServiceInfo> QueryService(std::string_view name) {
  auto scm = OpenManager(SC_MANAGER_CONNECT);
  if (!scm.ok()) return scm.error();
  auto service = OpenNamedService(scm->get(), name, SERVICE_QUERY_CONFIG);
  if (!service.ok()) return service.error();
  DWORD needed = 0;
  QueryServiceConfigW(service->get(), nullptr, 0, &needed);
  if (needed == 0) return LastWin32Error("QueryServiceConfig '" + std::string(name) + "'");
  std::vector<unsigned char> buf(needed);
  auto* config = reinterpret_cast<QUERY_SERVICE_CONFIGW*>(buf.data());
  if (!QueryServiceConfigW(service->get(), config, needed, &needed)) {
    return LastWin32Error("QueryServiceConfig '" + std::string(name) + "'");
  }
  ServiceInfo info;
  if (config->lpBinaryPathName != nullptr) info.command_line = Utf8FromWide(config->lpBinaryPathName);
  if (config->lpServiceStartName != nullptr) info.account = Utf8FromWide(config->lpServiceStartName);
  info.auto_start = config->dwStartType == SERVICE_AUTO_START;
  info.own_process = (config->dwServiceType & SERVICE_WIN32_OWN_PROCESS) != 0;
  return info;
}

Result<int> RunAsService(std::string_view name, std::function<int(ServiceHost&)> body) {
  ServiceRun run;
  run.name = WideFromUtf8(name);
  run.body = std::move(body);
  ServiceRun* expected = nullptr;
  if (!g_run.compare_exchange_strong(expected, &run)) {
    return MakeError(EBUSY, "RunAsService: this process already runs a service");
  }
  SERVICE_TABLE_ENTRYW table[] = {{run.name.data(), ServiceMain}, {nullptr, nullptr}};
  const BOOL dispatched = StartServiceCtrlDispatcherW(table);
  const DWORD code = dispatched ? NO_ERROR : GetLastError();
  g_run.store(nullptr);
  if (!dispatched) {
    if (code == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
      return MakeError(EINVAL, "not started by the service manager: --service is for the "
                               "service control manager (install with --install-service)");
    }
    return Win32Error(code, "StartServiceCtrlDispatcher");
  }
  if (run.error) return *run.error;
  if (!run.ran) return MakeError(EIO, "the service manager never started service '" +
                                          std::string(name) + "'");
  return run.exit_code;
}

Result<std::string> CurrentExecutablePath() {
  auto path = ExecutablePath();
  if (!path.ok()) return path.error();
  return Utf8FromWide(*path);
}

Result<std::FILE*> OpenServiceLog(std::string_view file_name) {
  if (file_name.empty() || file_name.find_first_of("/\\:") != std::string_view::npos) {
    return MakeError(EINVAL, "invalid log file name '" + std::string(file_name) + "'");
  }
  auto data = ProgramDataDirectory();
  if (!data.ok()) return data.error();
  std::wstring dir = JoinPath(*data, L"ZLayer");
  for (const std::wstring& d : {dir, JoinPath(dir, L"log")}) {
    if (!CreateDirectoryW(d.c_str(), nullptr) && GetLastError() != ERROR_ALREADY_EXISTS) {
      return LastWin32Error("CreateDirectory " + Utf8FromWide(d));
    }
  }
  const std::wstring path = JoinPath(JoinPath(dir, L"log"), WideFromUtf8(file_name));
  std::FILE* file = _wfopen(path.c_str(), L"a");
  if (file == nullptr) return MakeError(errno, "cannot open log file " + Utf8FromWide(path));
  return file;
}

}  // namespace zl::net
