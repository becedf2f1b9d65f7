#pragma once
// RateLimiter: a token bucket per source address, for handshake initiations
// (whitepaper §5.3; the kernel's ratelimiter.c). Each source may send
// `per_second` packets a second on average and `burst` back to back. IPv4
// sources are keyed by their address, IPv6 sources by their /64 (one host
// usually owns a whole /64), and IPv4-mapped IPv6 addresses as IPv4.
//
// Memory is bounded: the table never holds more than `max_entries` sources;
// a new source that finds it full is refused (Allow returns false) rather
// than growing it. Entries whose bucket is full again and that have been idle
// for more than a second carry no information and are collected: every Allow
// examines a few entries in turn (more when the table is full), so the work
// per call is bounded and a whole sweep is amortised over calls.
//
// The engine counts here only handshakes with a valid mac2, i.e. from sources
// that proved they receive at their address, so only those can fill the
// table (as in the kernel). Unauthenticated messages meet FloodShedder
// (flood_shedder.h) instead, which has no table to fill.
//
// Time is a parameter: nothing here reads a clock.
// Thread safety: single-threaded, owned by the engine.

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/ip.h"

namespace zl::wg {

// How the limiters name a source: an IPv4 address (IPv4-mapped IPv6 ones
// included), or the /64 of an IPv6 address.
struct SourcePrefix {
  uint64_t prefix = 0;  // IPv4 address, or the top 64 bits of an IPv6 one
  bool v6 = false;
  friend bool operator==(const SourcePrefix&, const SourcePrefix&) = default;
};
SourcePrefix SourcePrefixOf(const IpAddress& address);

class RateLimiter {
 public:
  // per_second and burst are raised to at least 1. `hash_seed` keys the
  // table's hash so remote peers cannot aim for collisions; pass a random
  // value in production.
  RateLimiter(uint32_t per_second, uint32_t burst, size_t max_entries = 65536,
              uint64_t hash_seed = 0);

  // True if a packet from `source` at `now` is within its rate (and spends a
  // token); false if over the rate or if `source` is new and the table full.
  bool Allow(const IpAddress& source, MonoTime now);

  // Sources currently tracked.
  size_t size() const { return buckets_.size(); }

 private:
  using Key = SourcePrefix;
  struct KeyHash {
    uint64_t seed;
    size_t operator()(const Key& k) const;
  };
  struct Bucket {
    Key key;
    int64_t tokens_ns;  // tokens, in nanoseconds of refill time
    MonoTime last;
  };

  void Refill(Bucket& bucket, MonoTime now) const;
  bool IsStale(const Bucket& bucket, MonoTime now) const;
  // Examines up to `budget` entries from the sweep cursor, removing stale ones.
  void Collect(MonoTime now, size_t budget);
  void RemoveAt(size_t i);

  const int64_t cost_ns_;        // one packet
  const int64_t max_tokens_ns_;  // `burst` packets
  const size_t max_entries_;
  std::vector<Bucket> buckets_;  // dense, so the sweep cursor is a plain index
  std::unordered_map<Key, size_t, KeyHash> index_;
  size_t gc_cursor_ = 0;
};

}  // namespace zl::wg
