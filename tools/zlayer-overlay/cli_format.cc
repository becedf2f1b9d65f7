#include "cli_format.h"

#include <fmt/format.h>

#include <ctime>
#include <vector>

namespace zl::overlay::cli {
namespace {

std::string Str(const nlohmann::json& j, const char* key, const char* fallback = "-") {
  if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()) {
    return j[key].get<std::string>();
  }
  return fallback;
}

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string FormatUnixTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::optional<int64_t> ParseDuration(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  int64_t unit = 1;
  switch (text.back()) {
    case 's': unit = 1; text.remove_suffix(1); break;
    case 'm': unit = 60; text.remove_suffix(1); break;
    case 'h': unit = 3600; text.remove_suffix(1); break;
    case 'd': unit = 86400; text.remove_suffix(1); break;
    default: break;
  }
  if (text.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v * unit;
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string FormatAge(std::optional<double> seconds) {
  if (!seconds) return "never";
  const int64_t s = int64_t(*seconds);
  if (s < 120) return fmt::format("{}s ago", s);
  if (s < 7200) return fmt::format("{}m ago", s / 60);
  return fmt::format("{}h ago", s / 3600);
}

std::string FormatPeers(const nlohmann::json& peers) {
  std::vector<std::vector<std::string>> rows{
      {"NAME", "ADDRESS", "ENDPOINT", "HEALTH", "HANDSHAKE", "RTT", "RX", "TX"}};
  for (const auto& p : peers) {
    std::optional<double> age;
    if (p.contains("handshake_age_seconds") && p["handshake_age_seconds"].is_number()) {
      age = p["handshake_age_seconds"].get<double>();
    }
    std::string rtt = "-";
    if (p.contains("rtt_ms") && p["rtt_ms"].is_number()) {
      rtt = fmt::format("{:.2f} ms", p["rtt_ms"].get<double>());
    }
    std::string endpoint = Str(p, "endpoint", "");
    if (endpoint.empty()) endpoint = Str(p, "published_endpoint");
    std::string name = Str(p, "name");
    if (p.value("control", false)) name += " (control)";
    rows.push_back({name, Str(p, "address"), endpoint, Str(p, "health"), FormatAge(age), rtt,
                    FormatBytes(p.value("rx_bytes", uint64_t{0})),
                    FormatBytes(p.value("tx_bytes", uint64_t{0}))});
  }
  return Table(rows);
}

std::string FormatStatus(const nlohmann::json& s) {
  std::string out;
  if (!s.value("in_overlay", false)) {
    out += fmt::format("not in an overlay (run `init` or `join`)\n");
    out += fmt::format("interface:   {}\npublic key:  {}\nlisten port: {}\n",
                       Str(s, "interface"), Str(s, "public_key"), s.value("listen_port", 0));
    return out;
  }
  const nlohmann::json overlay = s.value("overlay", nlohmann::json::object());
  out += fmt::format("node:        {} ({})\n", Str(s, "name"), Str(s, "role"));
  out += fmt::format("overlay:     {} (zone {})\n", Str(overlay, "cidr4"), Str(overlay, "dns_zone"));
  out += fmt::format("address:     {} (subnet {})\n", Str(s, "address"), Str(s, "subnet"));
  if (s.contains("address6")) {
    out += fmt::format("address6:    {} (subnet {})\n", Str(s, "address6"), Str(s, "subnet6"));
  }
  out += fmt::format("interface:   {}, UDP port {}, endpoint {}\n", Str(s, "interface"),
                     s.value("listen_port", 0), Str(s, "endpoint"));
  out += fmt::format("public key:  {}\n", Str(s, "public_key"));
  const nlohmann::json control = s.value("control", nlohmann::json::object());
  out += fmt::format("control:     {} ({})\n", Str(control, "address"),
                     control.value("reachable", false) ? "reachable" : "UNREACHABLE");
  out += fmt::format("members:     {} (revision {})\n", s.value("members", 0),
                     s.value("revision", uint64_t{0}));
  const nlohmann::json peers = s.value("peers", nlohmann::json::array());
  if (!peers.empty()) out += "\n" + FormatPeers(peers);
  return out;
}

std::string FormatTokens(const nlohmann::json& tokens) {
  std::vector<std::vector<std::string>> rows{{"ID", "NODE", "SUBNET", "STATE", "EXPIRES"}};
  for (const auto& t : tokens) {
    std::string state = Str(t, "state");
    if (t.value("expired", false)) state = "expired";
    if (state == "used" && t.contains("used_by")) state += " by " + Str(t, "used_by");
    rows.push_back({Str(t, "id"), Str(t, "node_name"), Str(t, "subnet4"), state,
                    FormatUnixTime(t.value("expires_at", int64_t{0}))});
  }
  return Table(rows);
}

}  // namespace zl::overlay::cli
