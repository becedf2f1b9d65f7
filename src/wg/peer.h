#pragma once
// Peer: everything the engine keeps about one configured peer (the kernel's
// peer.c / wireguard-go's device/peer.go): its static identity and preshared
// key, endpoint, handshake in flight, keypairs, timers, staged packets and
// counters.
//
// StagingQueue holds the plain packets that wait for a session. It is bounded
// (the oldest packet is dropped when full) and its slots are vectors reused
// from packet to packet, so once warmed up it does not allocate.
//
// Thread safety: none; owned by the engine, used under its mutex.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "crypto/tai64n.h"
#include "wg/cookie.h"
#include "wg/engine.h"
#include "wg/keypair.h"
#include "wg/noise.h"
#include "wg/timers.h"

namespace zl::wg {

class StagingQueue {
 public:
  explicit StagingQueue(size_t capacity) : slots_(capacity) {}

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  size_t capacity() const { return slots_.size(); }

  // Appends a copy of `packet` (empty = a keepalive). When full, the oldest
  // packet is dropped first and true is returned.
  bool Push(ByteSpan packet);
  // The oldest packet. REQUIRES: !empty(). Valid until the next Push/Pop.
  ByteSpan Front() const { return slots_[head_]; }
  // Drops the oldest packet. REQUIRES: !empty().
  void Pop();
  // Drops every packet (the slots keep their capacity).
  void Clear();

 private:
  std::vector<std::vector<uint8_t>> slots_;
  size_t head_ = 0;
  size_t count_ = 0;
};

// Our side of the handshake with one peer.
struct Handshake {
  // The initiation we sent and await a response to; its sender index is
  // registered in the IndexTable as a kHandshake entry.
  std::optional<InitiatorState> initiator;
  // Unique in the engine, set with `initiator`: a response consumed without
  // the engine's lock installs its keypair only if this did not change.
  uint64_t initiator_generation = 0;
  // The sender index of our response while it is being made without the
  // engine's lock (a kHandshake entry of the IndexTable, which no message
  // can complete); it is ours to finish only if it is still here then.
  std::optional<uint32_t> responding_index;
  // Replay and flood protection for the peer's initiations (whitepaper §5.1).
  crypto::Tai64n greatest_timestamp{};
  std::optional<MonoTime> last_initiation_consumed;
  // Handshake messages we send are rate limited to one per REKEY_TIMEOUT.
  std::optional<MonoTime> last_sent_handshake;
};

struct Peer {
  Peer(PeerId id, size_t staged_capacity) : id(id), staged(staged_capacity) {}
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  void CountDrop(DropReason reason) { ++drops[size_t(reason)]; }
  // Forgets the initiation in flight, erasing its index.
  void ClearHandshake(IndexTable& indices);
  // Abandons the response being made, erasing its index.
  void AbandonResponse(IndexTable& indices);
  // Wipes every session key and handshake secret and drops the staged
  // packets (the timer "zero key material", peer removal).
  void ZeroAndFlushAll(IndexTable& indices);
  // True if a keypair or an initiation in flight exists.
  bool HasKeyMaterial() const {
    return !keypairs.empty() || handshake.initiator.has_value();
  }

  const PeerId id;
  PeerStatic
      identity;  // public key, preshared key, precomputed static-static DH
  CookieGenerator cookies;
  std::optional<Path> endpoint;
  uint16_t persistent_keepalive_interval = 0;  // seconds, 0 = off

  Handshake handshake;
  Keypairs keypairs;
  PeerTimers timers;
  StagingQueue staged;

  std::optional<WallTime> last_handshake;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  DropCounters drops{};
};

}  // namespace zl::wg
