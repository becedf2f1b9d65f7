#pragma once
// Process-wide logging with wireguard-go's levels (LOG_LEVEL=verbose|error|silent).
//
// Messages are formatted by the caller (fmt::format). Never pass a key, PSK or
// token: secret types in crypto/ cannot be formatted, by design.
//
// Thread safety: Log() may be called from any thread; SetLogLevel/SetLogSink
// are meant for start-up.

#include <functional>
#include <optional>
#include <string_view>

namespace zl {

enum class LogLevel { kSilent = 0, kError = 1, kVerbose = 2 };

// "verbose", "error", "silent" (wireguard-go's names); nullopt otherwise.
std::optional<LogLevel> ParseLogLevel(std::string_view name);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Default sink: "<prefix>: <LEVEL>: <time> <message>\n" on stderr.
void SetLogPrefix(std::string_view prefix);
void SetLogSink(std::function<void(LogLevel, std::string_view)> sink);

void Log(LogLevel level, std::string_view message);
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogVerbose(std::string_view m) { Log(LogLevel::kVerbose, m); }

}  // namespace zl
