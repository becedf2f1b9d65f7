#pragma once
// PeerTimers: the per-peer timers of whitepaper §6 as the kernel's timers.c
// and wireguard-go's device/timers.go arrange them. The hooks are named after
// the event that just happened (On<PastEvent>) and only arm or disarm
// deadlines; the engine's Tick() takes the deadlines that have passed
// (TakeExpired) and performs what each one means:
//
//   retransmit_handshake  REKEY_TIMEOUT + jitter after an initiation was sent:
//                         send it again, or give up after kMaxTimerHandshakes
//                         retries (REKEY_ATTEMPT_TIME) and drop staged packets.
//   send_keepalive        KEEPALIVE_TIMEOUT after data was received with
//                         nothing sent since: send a keepalive ("passive
//                         keepalive").
//   new_handshake         KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after data
//                         was sent with nothing received since: the session
//                         seems dead, start a new handshake.
//   zero_key_material     3 x REJECT_AFTER_TIME after the last session was
//                         derived: wipe every key of the peer.
//   persistent_keepalive  N seconds after the last authenticated packet in
//                         either direction, when N > 0: send a keepalive.
//
// Time is a parameter; jitter comes from a Jitter the engine owns.
//
// Thread safety: none; owned by the engine.

#include <chrono>
#include <cstdint>
#include <optional>

#include "base/clock.h"
#include "wg/engine.h"

namespace zl::wg {

// Retries of an initiation before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT
// (kernel MAX_TIMER_HANDSHAKES, wireguard-go MaxTimerHandshakes), so an
// unanswered handshake sends 20 initiations in about 100 s.
inline constexpr uint32_t kMaxTimerHandshakes =
    kRekeyAttemptTime / kRekeyTimeout;

// Timer jitter (whitepaper §6.1 "REKEY_TIMEOUT + jitter"). Not secret, so a
// small generator seeded once from the engine's Rng serves it: the data path
// (OnDataSent) never has to ask a system Rng.
class Jitter {
 public:
  explicit Jitter(uint64_t seed) : state_(seed | 1) {}
  // Uniform in [0, kRekeyTimeoutJitterMax], in whole milliseconds.
  Duration Next();

 private:
  uint64_t state_;
};

class PeerTimers {
 public:
  enum class Expired : uint8_t {
    kRetransmitHandshake,
    kSendKeepalive,
    kNewHandshake,
    kZeroKeyMaterial,
    kPersistentKeepalive,
  };

  // --- event hooks ---

  // After an authenticated data packet (not a keepalive) was sent.
  void OnDataSent(MonoTime now, Jitter& jitter);
  // After an authenticated data packet (not a keepalive) was received.
  void OnDataReceived(MonoTime now);
  // After any authenticated packet (keepalive, data, handshake) was sent.
  void OnAnyAuthenticatedPacketSent();
  // After any authenticated packet was received.
  void OnAnyAuthenticatedPacketReceived();
  // Before any authenticated packet is sent or after one was received.
  // `persistent_keepalive` in seconds, 0 = off.
  void OnAnyAuthenticatedPacketTraversal(MonoTime now,
                                         uint16_t persistent_keepalive);
  // After a handshake initiation was sent.
  void OnHandshakeInitiated(MonoTime now, Jitter& jitter);
  // After the response was consumed (initiator) or the first transport message
  // arrived on the new keypair (responder).
  void OnHandshakeComplete();
  // After a keypair was derived (response sent or response consumed).
  void OnSessionDerived(MonoTime now);
  // After the handshake was given up (retries exhausted): stop the passive
  // keepalive and make sure the residue of the exchange is zeroed eventually.
  void OnHandshakeGivenUp(MonoTime now);

  // --- expiry ---

  // The first deadline that has passed, in the order above, disarmed; nullopt
  // when none has. Call until nullopt.
  std::optional<Expired> TakeExpired(MonoTime now);
  // Re-arms the passive keepalive once more after it fired, if data arrived
  // while it was pending (so a keepalive follows the last data received).
  void AfterKeepaliveExpired(MonoTime now);
  // Disarms everything.
  void Stop();

  // Retransmissions of the current initiation so far.
  uint32_t handshake_attempts() const { return handshake_attempts_; }
  void ResetHandshakeAttempts() { handshake_attempts_ = 0; }
  void CountHandshakeAttempt() { ++handshake_attempts_; }
  // wireguard-go's sentLastMinuteHandshake: a receive-side rekey was sent for
  // the current keypair.
  bool sent_last_minute_handshake() const {
    return sent_last_minute_handshake_;
  }
  void set_sent_last_minute_handshake() { sent_last_minute_handshake_ = true; }

 private:
  std::optional<MonoTime> retransmit_handshake_;
  std::optional<MonoTime> send_keepalive_;
  std::optional<MonoTime> new_handshake_;
  std::optional<MonoTime> zero_key_material_;
  std::optional<MonoTime> persistent_keepalive_;
  uint32_t handshake_attempts_ = 0;
  bool need_another_keepalive_ = false;
  bool sent_last_minute_handshake_ = false;
};

}  // namespace zl::wg
