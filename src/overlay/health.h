#pragma once
// Peer health (DESIGN.md §5): each peer is UP, DEGRADED or DOWN, judged from
// what the device reports (the age of the last handshake, rx/tx counters)
// and from active probes through the tunnel (prober.h), with hysteresis so a
// single lost probe does not flap the state.
//
// The rules, evaluated at every Observe():
//   - DOWN when there was never a handshake, or the last one is older than
//     down_after_handshake_age (WireGuard's keys are dead after 180 s), or
//     at least down_after_failed_probes probes in a row failed;
//   - DEGRADED when the last handshake is older than degraded_after_handshake_age
//     (rekeying is overdue), or at least degraded_after_failed_probes probes
//     in a row failed, or the recent probe loss is at least degraded_loss;
//   - UP otherwise.
// Hysteresis: a worse state is entered at once; a better one only after it
// has been the verdict for recover_after consecutive observations.
//
// Time is a parameter. Thread safety: single-threaded (the daemon's health
// loop owns it).

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "base/clock.h"

namespace zl::overlay {

enum class Health { kUnknown, kUp, kDegraded, kDown };
const char* HealthName(Health health);  // "unknown", "up", "degraded", "down"

struct HealthOptions {
  Duration degraded_after_handshake_age = std::chrono::seconds(150);
  Duration down_after_handshake_age = std::chrono::seconds(180);
  int degraded_after_failed_probes = 2;
  int down_after_failed_probes = 5;
  size_t loss_window = 10;        // probes considered for the loss ratio
  double degraded_loss = 0.3;
  int recover_after = 2;          // observations before a better state sticks
};

// What one observation of a peer carries.
struct PeerObservation {
  std::optional<Duration> handshake_age;  // nullopt: never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  std::optional<bool> probe_ok;  // nullopt: no probe result this time
  std::optional<Duration> probe_rtt;
};

class PeerHealth {
 public:
  explicit PeerHealth(HealthOptions options = {});
  // Folds in one observation; returns true if the state changed.
  bool Observe(const PeerObservation& observation, MonoTime now);

  Health state() const { return state_; }
  std::optional<MonoTime> since() const { return since_; }  // of this state
  int consecutive_failed_probes() const { return failed_in_row_; }
  double probe_loss() const;  // over the loss window; 0 with no probes
  std::optional<Duration> last_rtt() const { return last_rtt_; }

 private:
  Health Verdict(const PeerObservation& observation) const;

  HealthOptions options_;
  Health state_ = Health::kUnknown;
  std::optional<MonoTime> since_;
  Health pending_ = Health::kUnknown;
  int pending_count_ = 0;
  int failed_in_row_ = 0;
  std::deque<bool> window_;
  std::optional<Duration> last_rtt_;
};

}  // namespace zl::overlay
