// What a node reports about itself: `status --json`, `peers --json` and the
// Prometheus metrics. Never a secret.

#include <fmt/format.h>

#include <chrono>

#include "overlay/daemon_impl.h"
#include "overlay/metrics.h"
#include "overlay/model_json.h"

namespace zl::overlay {
namespace {

int64_t UnixSeconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

nlohmann::json Daemon::Impl::PeersJsonLocked(const device::DeviceState* device_state) {
  nlohmann::json peers = nlohmann::json::array();
  if (!state) return peers;
  const WallTime now = clock.Read().wall;
  for (const Member& m : state->members) {
    if (m.public_key == public_key) continue;
    nlohmann::json p;
    p["name"] = m.name;
    p["public_key"] = m.public_key.ToBase64();
    p["address"] = NodeAddress(m.subnet4).ToString();
    if (m.subnet6) p["address6"] = NodeAddress(*m.subnet6).ToString();
    p["subnet"] = m.subnet4.ToString();
    p["control"] = m.control;
    p["published_endpoint"] = m.endpoint ? m.endpoint->ToString() : "";
    p["endpoint"] = nullptr;
    p["last_handshake"] = nullptr;
    p["handshake_age_seconds"] = nullptr;
    p["rx_bytes"] = 0;
    p["tx_bytes"] = 0;
    if (device_state != nullptr) {
      for (const device::PeerState& d : device_state->peers) {
        if (d.public_key != m.public_key) continue;
        if (d.endpoint) p["endpoint"] = d.endpoint->ToString();
        if (d.last_handshake) {
          p["last_handshake"] = UnixSeconds(*d.last_handshake);
          p["handshake_age_seconds"] = Seconds(now - *d.last_handshake);
        }
        p["rx_bytes"] = d.rx_bytes;
        p["tx_bytes"] = d.tx_bytes;
      }
    }
    auto info = peer_info.find(m.public_key);
    p["health"] = info != peer_info.end() ? HealthName(info->second.health.state()) : "unknown";
    p["rtt_ms"] = nullptr;
    if (info != peer_info.end() && info->second.rtt) {
      p["rtt_ms"] = Seconds(*info->second.rtt) * 1000.0;
    }
    if (info != peer_info.end()) p["probe_loss"] = info->second.health.probe_loss();
    peers.push_back(std::move(p));
  }
  return peers;
}

nlohmann::json Daemon::Impl::StatusJsonLocked() {
  nlohmann::json j;
  j["interface"] = options.interface;
  j["public_key"] = public_key.ToBase64();
  j["listen_port"] = device->listen_port();
  j["in_overlay"] = state.has_value();
  if (!state) return j;
  const NodeState& s = *state;
  j["name"] = s.self.name;
  j["role"] = RoleName(s.role);
  j["address"] = NodeAddress(s.self.subnet4).ToString();
  j["subnet"] = s.self.subnet4.ToString();
  if (s.self.subnet6) {
    j["address6"] = NodeAddress(*s.self.subnet6).ToString();
    j["subnet6"] = s.self.subnet6->ToString();
  }
  j["endpoint"] = s.self.endpoint ? s.self.endpoint->ToString() : "";
  j["overlay"] = ToJson(s.params);
  j["control"] = {{"address", s.control_address.ToString()},
                  {"public_key", s.control_public_key.ToBase64()},
                  {"reachable", s.role == NodeState::Role::kControl || control_reachable}};
  j["revision"] = s.revision;
  j["members"] = s.members.size();
  auto device_state = device->Snapshot();
  j["peers"] = PeersJsonLocked(device_state.ok() ? &*device_state : nullptr);
  const DnsCounters dns = dns_zone.counters();
  j["dns"] = {{"queries", dns.queries}, {"nxdomain", dns.nxdomain}, {"refused", dns.refused},
              {"malformed", dns.malformed}};
  return j;
}

std::string Daemon::Impl::MetricsText() {
  auto device_state = device->Snapshot();
  std::lock_guard lock(mu);
  MetricsWriter metrics;
  // Names and labels here are fixed and valid; a failure would be a bug.
  auto w_gauge = [&](const char* name, const char* help, const MetricLabels& labels, double v) {
    (void)metrics.Gauge(name, help, labels, v);
  };
  auto w_counter = [&](const char* name, const char* help, const MetricLabels& labels, double v) {
    (void)metrics.Counter(name, help, labels, v);
  };
  w_gauge("zlayer_overlay_member", "1 while this node is in an overlay", {},
          state ? 1.0 : 0.0);
  if (state) {
    w_gauge("zlayer_overlay_members", "Members of the overlay, this node included", {},
            double(state->members.size()));
    w_gauge("zlayer_overlay_revision", "Store revision this node has applied", {},
            double(state->revision));
    w_gauge("zlayer_overlay_control_reachable", "1 while the control node answers", {},
            (state->role == NodeState::Role::kControl || control_reachable) ? 1.0 : 0.0);
    const WallTime now = clock.Read().wall;
    for (const Member& m : state->members) {
      if (m.public_key == public_key) continue;
      const MetricLabels labels{{"peer", m.name}};
      if (device_state.ok()) {
        for (const device::PeerState& d : device_state->peers) {
          if (d.public_key != m.public_key) continue;
          w_counter("zlayer_overlay_peer_rx_bytes_total", "Bytes received from the peer", labels,
                    double(d.rx_bytes));
          w_counter("zlayer_overlay_peer_tx_bytes_total", "Bytes sent to the peer", labels,
                    double(d.tx_bytes));
          if (d.last_handshake) {
            w_gauge("zlayer_overlay_peer_handshake_age_seconds",
                    "Seconds since the last completed handshake", labels,
                    Seconds(now - *d.last_handshake));
          }
        }
      }
      auto info = peer_info.find(m.public_key);
      if (info == peer_info.end()) continue;
      w_gauge("zlayer_overlay_peer_health",
              "Peer health: 0 unknown, 1 up, 2 degraded, 3 down", labels,
              double(int(info->second.health.state())));
      w_gauge("zlayer_overlay_peer_probe_loss", "Share of recent probes lost", labels,
              info->second.health.probe_loss());
      if (info->second.rtt) {
        w_gauge("zlayer_overlay_peer_rtt_seconds", "Round-trip time of the last probe", labels,
                Seconds(*info->second.rtt));
      }
    }
  }
  const DnsCounters dns = dns_zone.counters();
  w_counter("zlayer_overlay_dns_queries_total", "DNS queries received", {}, double(dns.queries));
  w_counter("zlayer_overlay_dns_nxdomain_total", "DNS answers NXDOMAIN", {}, double(dns.nxdomain));
  w_counter("zlayer_overlay_dns_refused_total", "DNS queries refused (outside the zone)", {},
            double(dns.refused));
  w_counter("zlayer_overlay_dns_malformed_total", "Malformed DNS queries", {},
            double(dns.malformed));
  return metrics.Finish();
}

}  // namespace zl::overlay
