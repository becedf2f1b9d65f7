#pragma once
// Process-wide logging with wireguard-go's levels (LOG_LEVEL=verbose|error|silent).
//
// Messages are formatted by the caller (fmt::format). Never pass a key, PSK or
// token: secret types in crypto/ cannot be formatted, by design.
//
// Thread safety: Log() may be called from any thread; SetLogLevel/SetLogSink
// are meant for start-up.

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace zl {

enum class LogLevel { kSilent = 0, kError = 1, kVerbose = 2 };

// wireguard-go's names "verbose" (or "debug"), "error", "silent", and "info"
// as kError (wireguard-go has no info level; its default is error), in any
// letter case; nullopt otherwise.
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// What LOG_LEVEL=`value` means for a program that must start whatever the
// value (wireguard-go ignores values it does not know): the level it names,
// or kError with a one-line warning (no trailing newline) to print when the
// value is empty or unknown.
struct LogLevelChoice {
  LogLevel level = LogLevel::kError;
  std::string warning;  // empty when `value` was understood
};
LogLevelChoice LogLevelFromEnvironment(std::string_view value);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Default sink: "<prefix>: <LEVEL>: <time> <message>\n" on stderr.
void SetLogPrefix(std::string_view prefix);
void SetLogSink(std::function<void(LogLevel, std::string_view)> sink);
// The default sink writes to `file` (flushed after each line) instead of
// stderr; null goes back to stderr. The caller keeps `file` open while it is
// set.
void SetLogFile(std::FILE* file);

void Log(LogLevel level, std::string_view message);
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogVerbose(std::string_view m) { Log(LogLevel::kVerbose, m); }

}  // namespace zl
