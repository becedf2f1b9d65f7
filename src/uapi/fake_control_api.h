#pragma once
// FakeControlApi: a ControlApi for the uapi tests and fuzzer that keeps a
// DeviceState and applies ConfigRequests to it with wireguard-go's semantics
// (device/uapi.go), so a golden `get` taken from wireguard-go can be compared
// with ours. Not linked into any library: include it from tests only.
//
// What it models: private key (zero clears), listen port, fwmark (0 clears),
// replace_peers first, then each peer block in order: remove, update_only
// (no creation), preshared key, endpoint, keepalive, replace_allowed_ips, and
// allowed IPs stored masked, a prefix moving from any other peer to this one
// and a re-added prefix moving to the end of the list (wireguard-go's
// per-peer list order). Counters and handshake times stay zero. Not modelled:
// the peer whose key is the device's own public key (wireguard-go ignores it),
// since that needs X25519.
//
// Thread safety: all methods are thread-safe.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include "device/config.h"

namespace zl::uapi {

class FakeControlApi : public device::ControlApi {
 public:
  Result<void> Apply(const device::ConfigRequest& request) override {
    if (auto delay = apply_delay_.load(); delay.count() > 0) {
      std::this_thread::sleep_for(delay);
    }
    std::lock_guard lock(mu_);
    ++apply_calls_;
    if (apply_error_) return *apply_error_;
    ApplyLocked(request);
    return Ok();
  }

  Result<device::DeviceState> Snapshot() override {
    std::lock_guard lock(mu_);
    ++snapshot_calls_;
    if (snapshot_error_) return *snapshot_error_;
    return state_;
  }

  // Test controls.
  void FailApplyWith(std::optional<Error> error) {
    std::lock_guard lock(mu_);
    apply_error_ = std::move(error);
  }
  void FailSnapshotWith(std::optional<Error> error) {
    std::lock_guard lock(mu_);
    snapshot_error_ = std::move(error);
  }
  void SetApplyDelay(std::chrono::milliseconds delay) { apply_delay_ = delay; }
  int apply_calls() const {
    std::lock_guard lock(mu_);
    return apply_calls_;
  }
  int snapshot_calls() const {
    std::lock_guard lock(mu_);
    return snapshot_calls_;
  }

 private:
  device::PeerState* FindLocked(const crypto::PublicKey& key) {
    for (auto& p : state_.peers) {
      if (p.public_key == key) return &p;
    }
    return nullptr;
  }

  void ApplyLocked(const device::ConfigRequest& r) {
    if (r.private_key) {
      if (r.private_key->IsZero()) {
        state_.private_key.reset();
      } else {
        state_.private_key = *r.private_key;
      }
    }
    if (r.listen_port) state_.listen_port = *r.listen_port;
    if (r.fwmark) state_.fwmark = *r.fwmark;
    if (r.replace_peers) state_.peers.clear();
    for (const auto& pc : r.peers) {
      device::PeerState* peer = FindLocked(pc.public_key);
      if (pc.remove) {
        std::erase_if(state_.peers, [&](const auto& p) {
          return p.public_key == pc.public_key;
        });
        continue;
      }
      if (peer == nullptr) {
        if (pc.update_only) continue;
        state_.peers.emplace_back();
        peer = &state_.peers.back();
        peer->public_key = pc.public_key;
      }
      if (pc.preshared_key) peer->preshared_key = *pc.preshared_key;
      if (pc.endpoint) peer->endpoint = *pc.endpoint;
      if (pc.persistent_keepalive_interval) {
        peer->persistent_keepalive_interval = *pc.persistent_keepalive_interval;
      }
      if (pc.replace_allowed_ips) peer->allowed_ips.clear();
      for (const Cidr& cidr : pc.allowed_ips) {
        Cidr masked = cidr.Masked();
        for (auto& other : state_.peers) std::erase(other.allowed_ips, masked);
        peer->allowed_ips.push_back(masked);
      }
    }
  }

  mutable std::mutex mu_;
  device::DeviceState state_;            // GUARDED_BY(mu_)
  std::optional<Error> apply_error_;     // GUARDED_BY(mu_)
  std::optional<Error> snapshot_error_;  // GUARDED_BY(mu_)
  int apply_calls_ = 0;                  // GUARDED_BY(mu_)
  int snapshot_calls_ = 0;               // GUARDED_BY(mu_)
  std::atomic<std::chrono::milliseconds> apply_delay_{
      std::chrono::milliseconds(0)};
};

}  // namespace zl::uapi
