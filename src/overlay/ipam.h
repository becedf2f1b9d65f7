#pragma once
// IPAM arithmetic: a pool (the overlay's CIDR) cut into equal subnets of one
// prefix length (each node's /24 or /64), numbered from 0 in address order.
// The store keeps which indices are taken (under a UNIQUE constraint); this
// file only computes, so it is pure and tested with tables. The control node
// takes index 0; a released index is reused, lowest first.
//
// A pool may hold more subnets than anyone will use (a /16 IPv6 pool has 2^48
// /64s); counts are capped at kMaxSubnets, and only the first kMaxSubnets
// subnets are ever handed out.
//
// Errors: EINVAL with a message for a pool with host bits set, a subnet prefix
// not longer than the pool's or longer than the family allows, an index out of
// range, or a subnet that is not one of the pool's; ENOSPC when every index is
// taken.
//
// Thread safety: pure functions.

#include <cstdint>
#include <span>

#include "base/ip.h"
#include "base/result.h"

namespace zl::overlay {

inline constexpr uint64_t kMaxSubnets = uint64_t{1} << 32;

// How many subnets of length `prefix` fit in `pool`, at most kMaxSubnets.
Result<uint64_t> SubnetCount(const Cidr& pool, uint8_t prefix);
// The subnet with number `index` (0 = the pool's first).
Result<Cidr> NthSubnet(const Cidr& pool, uint8_t prefix, uint64_t index);
// The number of `subnet`, which must be one of NthSubnet's answers (same
// family, prefix `prefix`, inside `pool`, host bits clear).
Result<uint64_t> SubnetIndex(const Cidr& pool, uint8_t prefix,
                             const Cidr& subnet);
// The lowest index in [0, count) not in `used`, which must be strictly
// ascending (EINVAL otherwise). ENOSPC when all `count` are used.
Result<uint64_t> LowestFreeIndex(std::span<const uint64_t> used,
                                 uint64_t count);

}  // namespace zl::overlay
