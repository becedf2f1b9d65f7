#pragma once
// How the CLI prints what the daemon answers: tables and summaries for
// people, JSON (--json) for programs. Pure functions of the API's JSON.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace zl::overlay::cli {

// "90", "90s", "30m", "1h", "2d" -> seconds; nullopt when malformed.
std::optional<int64_t> ParseDuration(std::string_view text);

std::string FormatStatus(const nlohmann::json& status);
std::string FormatPeers(const nlohmann::json& peers);   // the "peers" array
std::string FormatTokens(const nlohmann::json& tokens); // the "tokens" array
std::string FormatBytes(uint64_t bytes);
std::string FormatAge(std::optional<double> seconds);

}  // namespace zl::overlay::cli
