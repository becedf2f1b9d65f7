#include "wg/timers.h"

namespace zl::wg {
namespace {

bool TakeIfDue(std::optional<MonoTime>& deadline, MonoTime now) {
  if (!deadline || now < *deadline) return false;
  deadline.reset();
  return true;
}

}  // namespace

Duration Jitter::Next() {
  // xorshift64* (Vigna); the jitter only de-synchronises peers.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint64_t r = state_ * 0x2545F4914F6CDD1DULL;
  const uint64_t span_ms = uint64_t(kRekeyTimeoutJitterMax.count()) + 1;
  return std::chrono::milliseconds((r >> 32) % span_ms);
}

void PeerTimers::OnDataSent(MonoTime now, Jitter& jitter) {
  if (!new_handshake_)
    new_handshake_ = now + kKeepaliveTimeout + kRekeyTimeout + jitter.Next();
}

void PeerTimers::OnDataReceived(MonoTime now) {
  if (!send_keepalive_) {
    send_keepalive_ = now + kKeepaliveTimeout;
  } else {
    need_another_keepalive_ = true;
  }
}

void PeerTimers::OnAnyAuthenticatedPacketSent() { send_keepalive_.reset(); }

void PeerTimers::OnAnyAuthenticatedPacketReceived() { new_handshake_.reset(); }

void PeerTimers::OnAnyAuthenticatedPacketTraversal(
    MonoTime now, uint16_t persistent_keepalive) {
  if (persistent_keepalive > 0) {
    persistent_keepalive_ = now + std::chrono::seconds(persistent_keepalive);
  }
}

void PeerTimers::OnHandshakeInitiated(MonoTime now, Jitter& jitter) {
  retransmit_handshake_ = now + kRekeyTimeout + jitter.Next();
}

void PeerTimers::OnHandshakeComplete() {
  retransmit_handshake_.reset();
  handshake_attempts_ = 0;
  sent_last_minute_handshake_ = false;
}

void PeerTimers::OnSessionDerived(MonoTime now) {
  zero_key_material_ = now + kZeroKeysAfter;
}

void PeerTimers::OnHandshakeGivenUp(MonoTime now) {
  send_keepalive_.reset();
  if (!zero_key_material_) zero_key_material_ = now + kZeroKeysAfter;
}

std::optional<PeerTimers::Expired> PeerTimers::TakeExpired(MonoTime now) {
  if (TakeIfDue(retransmit_handshake_, now))
    return Expired::kRetransmitHandshake;
  if (TakeIfDue(send_keepalive_, now)) return Expired::kSendKeepalive;
  if (TakeIfDue(new_handshake_, now)) return Expired::kNewHandshake;
  if (TakeIfDue(zero_key_material_, now)) return Expired::kZeroKeyMaterial;
  if (TakeIfDue(persistent_keepalive_, now))
    return Expired::kPersistentKeepalive;
  return std::nullopt;
}

void PeerTimers::AfterKeepaliveExpired(MonoTime now) {
  if (need_another_keepalive_) {
    need_another_keepalive_ = false;
    send_keepalive_ = now + kKeepaliveTimeout;
  }
}

void PeerTimers::Stop() {
  retransmit_handshake_.reset();
  send_keepalive_.reset();
  new_handshake_.reset();
  zero_key_material_.reset();
  persistent_keepalive_.reset();
  need_another_keepalive_ = false;
}

}  // namespace zl::wg
