#include "environment.h"

#include <fmt/core.h>

#include <charconv>
#include <climits>

namespace zl::wgtool {
namespace {

// `value` as a decimal int: digits only (no sign, no spaces), in range.
std::optional<int> ParseDecimal(std::string_view value) {
  int n = -1;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, n);
  const bool digits_only =
      !value.empty() && value.front() >= '0' && value.front() <= '9';
  if (!digits_only || ec != std::errc() || ptr != end) return std::nullopt;
  return n;
}

// Variable `name` = `value` as a decimal from `min` to `max`; else EINVAL with
// `expected` (what it must be, e.g. "a number of threads from 1 to 8").
Result<int> ParseBounded(std::string_view name, std::string_view value, int min, int max,
                         std::string_view expected) {
  const std::optional<int> n = ParseDecimal(value);
  if (!n || *n < min || *n > max) {
    return MakeError(EINVAL, fmt::format("{} must be {}, not '{}'", name,
                                         expected, value.substr(0, 32)));
  }
  return *n;
}

}  // namespace

Result<int> ParseDescriptorNumber(std::string_view name,
                                  std::string_view value) {
  const std::optional<int> parsed = ParseDecimal(value);
  if (!parsed) {
    return MakeError(EINVAL, fmt::format("{}='{}' is not a descriptor number",
                                         name, value.substr(0, 32)));
  }
  const int fd = *parsed;
  if (fd <= 2) {
    return MakeError(EINVAL,
                     fmt::format("{}={} is a standard stream (0-2), which "
                                 "zlayer-wg does not take over",
                                 name, fd));
  }
  return fd;
}

Result<Environment> ReadEnvironment(const GetEnv& get) {
  Environment env;
  if (const char* level = get("LOG_LEVEL")) {
    env.log_level = LogLevelFromEnvironment(level);
    env.log_level_given = *level != '\0';
  }
  if (const char* fg = get("WG_PROCESS_FOREGROUND")) {
    env.foreground = std::string_view(fg) == "1";
  }
  if (const char* offloads = get("ZL_OFFLOADS")) {
    const std::string_view v(offloads);
    if (v != "0" && v != "1") {
      return MakeError(EINVAL, "ZL_OFFLOADS must be 0 (off) or 1 (on), not '" +
                                   std::string(v.substr(0, 32)) + "'");
    }
    env.offloads = v == "1";
  }
  if (const char* busy_poll = get("ZL_BUSY_POLL_US")) {
    auto us = ParseBounded(
        "ZL_BUSY_POLL_US", busy_poll, 0, kMaxBusyPollUs,
        fmt::format("a number of microseconds from 0 (off) to {}", kMaxBusyPollUs));
    if (!us.ok()) return us.error();
    env.busy_poll = std::chrono::microseconds(*us);
  }
  if (const char* threads = get("ZL_THREADS")) {
    auto n = ParseBounded(
        "ZL_THREADS", threads, 0, kMaxThreads,
        fmt::format("a number of threads from 1 to {}, or 0 for the default",
                    kMaxThreads));
    if (!n.ok()) return n.error();
    env.threads = *n;
  }
  if (const char* queues = get("ZL_TUN_QUEUES")) {
    auto n = ParseBounded("ZL_TUN_QUEUES", queues, 1, kMaxTunQueues,
                          fmt::format("a number of TUN queues from 1 to {}", kMaxTunQueues));
    if (!n.ok()) return n.error();
    env.tun_queues = *n;
  }
  for (auto [name, out] : {std::pair{"WG_TUN_FD", &env.tun_fd},
                           std::pair{"WG_UAPI_FD", &env.uapi_fd}}) {
    const char* value = get(name);
    if (value == nullptr) continue;
    auto fd = ParseDescriptorNumber(name, value);
    if (!fd.ok()) return fd.error();
    *out = *fd;
  }
  if (env.tun_fd && env.uapi_fd && *env.tun_fd == *env.uapi_fd) {
    return MakeError(EINVAL, fmt::format("WG_TUN_FD and WG_UAPI_FD are both "
                                         "descriptor {}",
                                         *env.tun_fd));
  }
  if (env.tun_fd && env.tun_queues > 1) {
    return MakeError(EINVAL, fmt::format("ZL_TUN_QUEUES={} needs a TUN zlayer-wg creates; the "
                                         "one WG_TUN_FD gives has a single queue",
                                         env.tun_queues));
  }
  return env;
}

}  // namespace zl::wgtool
