#include "overlay/health.h"

#include <algorithm>

namespace zl::overlay {
namespace {

// How bad a state is; kUnknown is below every judged state, so the first
// verdict is never held back by hysteresis.
int Severity(Health health) {
  switch (health) {
    case Health::kUnknown:
      return -1;
    case Health::kUp:
      return 0;
    case Health::kDegraded:
      return 1;
    case Health::kDown:
      return 2;
  }
  return -1;
}

Health Worse(Health a, Health b) { return Severity(a) >= Severity(b) ? a : b; }

}  // namespace

const char* HealthName(Health health) {
  switch (health) {
    case Health::kUnknown:
      return "unknown";
    case Health::kUp:
      return "up";
    case Health::kDegraded:
      return "degraded";
    case Health::kDown:
      return "down";
  }
  return "unknown";
}

PeerHealth::PeerHealth(HealthOptions options) : options_(options) {}

bool PeerHealth::Observe(const PeerObservation& observation, MonoTime now) {
  if (observation.probe_ok.has_value()) {
    const bool ok = *observation.probe_ok;
    failed_in_row_ = ok ? 0 : failed_in_row_ + 1;
    window_.push_back(ok);
    while (window_.size() > std::max<size_t>(options_.loss_window, 1)) {
      window_.pop_front();
    }
    if (ok && observation.probe_rtt) last_rtt_ = observation.probe_rtt;
  }

  const Health verdict = Verdict(observation);
  if (state_ == Health::kUnknown || Severity(verdict) > Severity(state_)) {
    // Worse (or first): at once.
    state_ = verdict;
    since_ = now;
    pending_ = Health::kUnknown;
    pending_count_ = 0;
    return true;
  }
  if (verdict == state_) {
    pending_ = Health::kUnknown;
    pending_count_ = 0;
    return false;
  }
  // Better: count the run of better verdicts; the state it earns is the worst
  // verdict of the run, so every observation in it supports the new state.
  pending_ = pending_count_ == 0 ? verdict : Worse(pending_, verdict);
  ++pending_count_;
  if (pending_count_ < std::max(options_.recover_after, 1)) return false;
  state_ = pending_;
  since_ = now;
  pending_ = Health::kUnknown;
  pending_count_ = 0;
  return true;
}

double PeerHealth::probe_loss() const {
  if (window_.empty()) return 0.0;
  const auto lost = std::count(window_.begin(), window_.end(), false);
  return static_cast<double>(lost) / static_cast<double>(window_.size());
}

Health PeerHealth::Verdict(const PeerObservation& observation) const {
  const std::optional<Duration>& age = observation.handshake_age;
  if (!age || *age >= options_.down_after_handshake_age ||
      failed_in_row_ >= options_.down_after_failed_probes) {
    return Health::kDown;
  }
  // The loss ratio counts only over a full window: early on, one lost probe
  // of two would read as 50 % loss and flap the state.
  const bool window_full =
      window_.size() >= std::max<size_t>(options_.loss_window, 1);
  if (*age >= options_.degraded_after_handshake_age ||
      failed_in_row_ >= options_.degraded_after_failed_probes ||
      (window_full && probe_loss() >= options_.degraded_loss)) {
    return Health::kDegraded;
  }
  return Health::kUp;
}

}  // namespace zl::overlay
