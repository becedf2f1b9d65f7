#pragma once
// HandshakeQueue: the bounded, preallocated queue that carries handshake
// messages (initiation, response, cookie reply) from the device's loop
// thread, which receives every datagram, to its handshake worker thread,
// which runs the cryptography (as the kernel's per-device handshake queue).
// The loop thread only copies a message in; the data path never waits for a
// handshake's cryptography, and a flood cannot fill the socket buffer in
// front of data packets.
//
// Admission (TryPush), cheapest first:
//   - full: dropped and counted (dropped_full);
//   - more than half full: each source (IPv4 address, IPv6 /64) may add
//     `shed_per_second` messages a second on average, `shed_burst` back to
//     back (wg::FloodShedder's keyed buckets); the rest are dropped and
//     counted (shed). Below half full nothing is shed, so a source whose
//     address a flood spoofs still gets its handshakes in while there is room.
//
// Memory: `capacity` entries of kMaxHandshakeMessage bytes plus addresses,
// allocated at construction; the shedder's 1 MiB on its first use. Nothing
// is allocated per message.
//
// Consumers: any number of threads may call PopBatch at once (the device's
// handshake workers); each message goes to exactly one of them. A call takes
// at most its share of what is queued (a `consumers`-th, rounded up), so a
// burst is spread over the workers instead of landing on the first awake.
//
// Thread safety: every method is thread-safe (one mutex). PopBatch blocks;
// Stop wakes every one of them for good.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/ip.h"
#include "base/mutex.h"
#include "crypto/siphash.h"
#include "wg/flood_shedder.h"

namespace zl::device {

// The largest handshake message: an initiation (148 bytes).
inline constexpr size_t kMaxHandshakeMessage = 148;

struct HandshakeMessage {
  std::array<uint8_t, kMaxHandshakeMessage> bytes{};
  size_t len = 0;
  Endpoint from;
  std::optional<IpAddress>
      local;  // the address it was sent to (sticky replies)

  MutableByteSpan data() { return MutableByteSpan(bytes.data(), len); }
};

// True for a datagram the handshake worker takes: message type 1, 2 or 3
// (first byte), at most kMaxHandshakeMessage bytes. Anything else (transport
// data, junk, oversized) stays on the data path.
bool IsHandshakeMessage(ByteSpan datagram);

class HandshakeQueue {
 public:
  // `capacity` and `consumers` are raised to at least 1. `key` keys the
  // shedder's buckets: secret and random.
  HandshakeQueue(size_t capacity, uint32_t shed_per_second, uint32_t shed_burst,
                 const crypto::SipHashKey& key, size_t consumers = 1);

  size_t capacity() const { return capacity_; }

  // Copies `message` in (see Admission above). False when it was dropped:
  // full, shed, or longer than kMaxHandshakeMessage. Does not wake the
  // consumer: call Notify after a batch of pushes.
  bool TryPush(ByteSpan message, const Endpoint& from,
               const std::optional<IpAddress>& local, MonoTime now)
      EXCLUDES(mu_);
  // Wakes the PopBatch calls waiting for messages.
  void Notify();

  // Waits until a message is queued or Stop, then moves the oldest messages
  // into `out`, in order: at most out.size() and at most the caller's share
  // (see Consumers above). Returns how many; 0 only once stopped (queued
  // messages are then discarded).
  size_t PopBatch(std::span<HandshakeMessage> out) EXCLUDES(mu_);
  // Ends every PopBatch, now and later. Idempotent.
  void Stop() EXCLUDES(mu_);

  size_t size() const EXCLUDES(mu_);
  uint64_t dropped_full() const EXCLUDES(mu_);
  uint64_t shed() const EXCLUDES(mu_);

 private:
  const size_t capacity_;
  const size_t consumers_;
  mutable Mutex mu_;
  CondVar cv_;
  std::vector<HandshakeMessage> entries_ GUARDED_BY(mu_);  // a ring
  size_t head_ GUARDED_BY(mu_) = 0;                        // the oldest
  size_t count_ GUARDED_BY(mu_) = 0;
  bool stopped_ GUARDED_BY(mu_) = false;
  uint64_t dropped_full_ GUARDED_BY(mu_) = 0;
  uint64_t shed_ GUARDED_BY(mu_) = 0;
  wg::FloodShedder shedder_ GUARDED_BY(mu_);
};

}  // namespace zl::device
