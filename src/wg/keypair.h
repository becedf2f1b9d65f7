#pragma once
// Keypair and Keypairs: the transport sessions of one peer (whitepaper §5.4.5
// "Transport data key derivation", §6.2-§6.3; the kernel's noise.c keypair
// rotation, wireguard-go's device/keypair.go).
//
// A Keypair is what one completed handshake yields: the send and receive keys,
// the next sending counter, the replay filter of the receive direction, who
// initiated it and when it was made. Keys wipe themselves on destruction.
//
// A peer holds up to three:
//   - current:  the one we send with;
//   - previous: the one before it, still accepted for packets in flight;
//   - next:     the responder's fresh keypair, not yet used to send: the
//               responder may only send with it once the initiator has proven
//               it holds it, i.e. on the first transport message received on
//               it ("key confirmation"), when it becomes current.
// Every keypair owns its local index in the engine's IndexTable; a keypair
// that leaves the three slots has its index erased.
//
// Thread safety: none; owned by the engine, used under its mutex. A thread
// that sealed or opened without the lock finds its keypair again by index
// and `generation`, never by a pointer kept across the unlocked part.

#include <cstdint>
#include <memory>

#include "base/clock.h"
#include "crypto/keys.h"
#include "wg/engine.h"
#include "wg/index_table.h"
#include "wg/replay.h"

namespace zl::wg {

struct Keypair {
  crypto::SymmetricKey send_key;
  crypto::SymmetricKey receive_key;
  uint64_t send_counter = 0;  // the counter of the next message we send
  ReplayFilter replay;        // counters received
  bool initiator = false;     // we sent the initiation of its handshake
  MonoTime created;
  uint32_t local_index = 0;   // receiver index the peer puts in its messages
  uint32_t remote_index = 0;  // receiver index we put in ours
  uint64_t generation = 0;    // unique in the engine: tells reused indices apart

  // May still send: before REJECT_AFTER_MESSAGES and REJECT_AFTER_TIME.
  bool CanSend(MonoTime now) const {
    return send_counter < kRejectAfterMessages &&
           now - created < kRejectAfterTime;
  }
  // Too old to accept anything on (whitepaper §6.1, REJECT_AFTER_TIME).
  bool ReceiveExpired(MonoTime now) const {
    return now - created >= kRejectAfterTime;
  }
};

class Keypairs {
 public:
  Keypairs() = default;
  Keypairs(const Keypairs&) = delete;
  Keypairs& operator=(const Keypairs&) = delete;

  Keypair* current() const { return current_.get(); }
  Keypair* previous() const { return previous_.get(); }
  Keypair* next() const { return next_.get(); }
  bool empty() const { return !current_ && !previous_ && !next_; }

  // The keypair whose local index is `local_index`, or nullptr.
  Keypair* Find(uint32_t local_index) const {
    if (current_ && current_->local_index == local_index) return current_.get();
    if (previous_ && previous_->local_index == local_index)
      return previous_.get();
    if (next_ && next_->local_index == local_index) return next_.get();
    return nullptr;
  }

  // The initiator's new keypair is confirmed by the response: it becomes
  // current at once. The old current (or an unconfirmed next, which the peer
  // may still be sending with) becomes previous.
  void InstallAsInitiator(std::unique_ptr<Keypair> keypair,
                          IndexTable& indices);
  // The responder's new keypair waits in next for key confirmation; previous
  // is dropped so that current and next stay usable.
  void InstallAsResponder(std::unique_ptr<Keypair> keypair,
                          IndexTable& indices);
  // Call after a transport message authenticated on `keypair`. If it is next,
  // it becomes current (previous <- current) and true is returned.
  bool ConfirmOnReceive(const Keypair* keypair, IndexTable& indices);
  // Drops all three, erasing their indices.
  void Clear(IndexTable& indices);

 private:
  static void Drop(std::unique_ptr<Keypair>& slot, IndexTable& indices);

  std::unique_ptr<Keypair> previous_;
  std::unique_ptr<Keypair> current_;
  std::unique_ptr<Keypair> next_;
};

}  // namespace zl::wg
