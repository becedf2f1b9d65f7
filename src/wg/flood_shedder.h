#pragma once
// FloodShedder: the first stage of handshake-flood handling. Under load, it
// decides before any cryptography whether a handshake message from a source
// may go on to the mac1 check (and a cookie reply), so that a flood from a
// few sources cannot take the thread that runs the handshakes. Used by the
// engine (under load) and by the device's handshake queue (once it is more
// than half full).
// docs/ARCHITECTURE.md ("Shedding a handshake flood") says how it fits with
// the cookie and the post-mac2 RateLimiter, and what an attacker can still do.
//
// Fixed memory, no table of sources: kBuckets rate limiters, and a source
// (IPv4 address, IPv6 /64, IPv4-mapped IPv6 as IPv4, as RateLimiter keys
// them) is counted in the bucket that SipHash-2-4 under a secret key picks
// for it. Nothing is ever inserted, so nothing can be refused for want of
// room: a flood takes a legitimate source's budget only where it happens to
// share its bucket, which without the key no sender can aim for. Each bucket
// lets `per_second` messages through on average and `burst` back to back (a
// GCRA: one "theoretical arrival time" per bucket, 8 bytes).
//
// The buckets (1 MiB) are allocated on the first call, i.e. when the engine
// first comes under load. Time is a parameter; nothing here reads a clock.
// Thread safety: single-threaded: one owner (the engine, or the queue).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/clock.h"
#include "base/ip.h"
#include "crypto/siphash.h"

namespace zl::wg {

class FloodShedder {
 public:
  static constexpr size_t kBuckets = size_t{1} << 17;

  // per_second and burst are raised to at least 1. `key` must be secret and
  // random (the engine draws it from its Rng).
  FloodShedder(uint32_t per_second, uint32_t burst,
               const crypto::SipHashKey& key);

  // True if a message from `source` at `now` is within its bucket's rate
  // (and counts it); false if it is to be dropped unexamined.
  bool Allow(const IpAddress& source, MonoTime now);

  // The bucket `source` is counted in. For tests.
  size_t BucketOf(const IpAddress& source) const;

 private:
  const int64_t interval_ns_;   // one message's share of a second
  const int64_t tolerance_ns_;  // (burst - 1) intervals early is still fine
  const crypto::SipHashKey key_;
  // Per bucket, in nanoseconds of MonoTime: when the bucket is back to
  // empty ("theoretical arrival time"). 0: never used, empty.
  std::vector<int64_t> tat_ns_;
};

}  // namespace zl::wg
