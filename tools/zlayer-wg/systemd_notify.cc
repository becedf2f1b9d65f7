#include "systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

#include "base/log.h"

namespace zl::wgtool {
namespace {

void Notify(const std::string& state) {
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0) {
    LogError("sd_notify failed: " + std::string(std::strerror(-rc)));
  } else if (rc > 0) {
    LogVerbose("told systemd: " + state.substr(0, state.find('\n')));
  }
}

}  // namespace

void NotifyReady(std::string_view status) {
  std::string line(status.substr(0, status.find('\n')));
  Notify("READY=1\nSTATUS=" + line);
}

void NotifyStopping() { Notify("STOPPING=1"); }

}  // namespace zl::wgtool
