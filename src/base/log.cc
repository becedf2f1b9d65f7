#include "base/log.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "base/mutex.h"

namespace zl {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kError};
Mutex g_mu;
std::string g_prefix GUARDED_BY(g_mu);
std::function<void(LogLevel, std::string_view)> g_sink GUARDED_BY(g_mu);
std::FILE* g_file GUARDED_BY(g_mu) = nullptr;  // null: stderr

}  // namespace

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "verbose" || lower == "debug") return LogLevel::kVerbose;
  if (lower == "error" || lower == "info") return LogLevel::kError;
  if (lower == "silent") return LogLevel::kSilent;
  return std::nullopt;
}

LogLevelChoice LogLevelFromEnvironment(std::string_view value) {
  if (auto level = ParseLogLevel(value)) return {*level, {}};
  // Only printable ASCII of the value goes into the warning, and not much.
  std::string shown;
  for (char c : value.substr(0, 32)) {
    shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  return {LogLevel::kError,
          "LOG_LEVEL='" + shown + (value.size() > 32 ? "...'" : "'") +
              " is not one of verbose, debug, error, info, silent: "
              "using error"};
}

void SetLogLevel(LogLevel level) { g_level = level; }
LogLevel GetLogLevel() { return g_level; }

void SetLogPrefix(std::string_view prefix) {
  MutexLock lock(g_mu);
  g_prefix = prefix;
}

void SetLogFile(std::FILE* file) {
  MutexLock lock(g_mu);
  g_file = file;
}

void SetLogSink(std::function<void(LogLevel, std::string_view)> sink) {
  MutexLock lock(g_mu);
  g_sink = std::move(sink);
}

void Log(LogLevel level, std::string_view message) {
  if (level == LogLevel::kSilent || level > g_level.load()) return;
  MutexLock lock(g_mu);
  if (g_sink) {
    g_sink(level, message);
    return;
  }
  std::time_t t = std::time(nullptr);
  std::tm tm{};
#ifdef _WIN32
  localtime_s(&tm, &t);  // the CRT's argument order
#else
  localtime_r(&t, &tm);
#endif
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y/%m/%d %H:%M:%S", &tm);
  std::FILE* out = g_file != nullptr ? g_file : stderr;
  std::fprintf(out, "%s%s%s: %s %.*s\n", g_prefix.c_str(), g_prefix.empty() ? "" : ": ",
               level == LogLevel::kError ? "ERROR" : "DEBUG", ts, int(message.size()),
               message.data());
  if (g_file != nullptr) std::fflush(g_file);
}

}  // namespace zl
