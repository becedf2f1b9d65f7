#include "overlay/ipam.h"

#include <array>
#include <string>

namespace zl::overlay {
namespace {

__extension__ typedef unsigned __int128 U128;

int FamilyBits(const IpAddress& a) { return int(a.size() * 8); }

U128 ToU128(const IpAddress& a) {
  U128 v = 0;
  for (size_t i = 0; i < a.size(); ++i) v = (v << 8) | a.bytes()[i];
  return v;
}

IpAddress FromU128(U128 v, bool v4) {
  std::array<uint8_t, 16> b{};
  size_t n = v4 ? 4 : 16;
  for (size_t i = n; i-- > 0;) {
    b[i] = uint8_t(v);
    v >>= 8;
  }
  return v4 ? IpAddress::V4(b.data()) : IpAddress::V6(b.data());
}

// Checks the pool and the subnet prefix; returns the uncapped count's
// exponent (prefix - pool prefix).
Result<int> CheckPool(const Cidr& pool, uint8_t prefix) {
  const int bits = FamilyBits(pool.address());
  if (pool.prefix_len() > bits) {
    return MakeError(EINVAL, "invalid pool prefix length /" +
                                 std::to_string(pool.prefix_len()));
  }
  if (pool.Masked() != pool) {
    return MakeError(EINVAL, "pool " + pool.ToString() +
                                 " has host bits set (did you mean " +
                                 pool.Masked().ToString() + "?)");
  }
  if (prefix <= pool.prefix_len() || prefix > bits) {
    return MakeError(EINVAL, "subnet prefix /" + std::to_string(prefix) +
                                 " must be longer than the pool's /" +
                                 std::to_string(pool.prefix_len()) +
                                 " and at most /" + std::to_string(bits));
  }
  return int(prefix) - int(pool.prefix_len());
}

}  // namespace

Result<uint64_t> SubnetCount(const Cidr& pool, uint8_t prefix) {
  auto exponent = CheckPool(pool, prefix);
  if (!exponent.ok()) return exponent.error();
  if (*exponent >= 32) return kMaxSubnets;
  return uint64_t{1} << *exponent;
}

Result<Cidr> NthSubnet(const Cidr& pool, uint8_t prefix, uint64_t index) {
  auto count = SubnetCount(pool, prefix);
  if (!count.ok()) return count.error();
  if (index >= *count) {
    return MakeError(EINVAL, "subnet index " + std::to_string(index) +
                                 " out of range (pool " + pool.ToString() +
                                 " has " + std::to_string(*count) + " /" +
                                 std::to_string(prefix) + " subnets)");
  }
  const int host_bits = FamilyBits(pool.address()) - prefix;
  U128 base = ToU128(pool.address());
  U128 address = base + (U128(index) << host_bits);
  return Cidr(FromU128(address, pool.address().is_v4()), prefix);
}

Result<uint64_t> SubnetIndex(const Cidr& pool, uint8_t prefix,
                             const Cidr& subnet) {
  auto count = SubnetCount(pool, prefix);
  if (!count.ok()) return count.error();
  const std::string what = "subnet " + subnet.ToString();
  if (subnet.address().family() != pool.address().family()) {
    return MakeError(EINVAL, what + " is not of the pool's address family");
  }
  if (subnet.prefix_len() != prefix) {
    return MakeError(EINVAL, what + " is not a /" + std::to_string(prefix));
  }
  if (subnet.Masked() != subnet) {
    return MakeError(EINVAL, what + " has host bits set");
  }
  if (!pool.Contains(subnet.address())) {
    return MakeError(EINVAL, what + " is outside the pool " + pool.ToString());
  }
  const int host_bits = FamilyBits(pool.address()) - prefix;
  U128 offset =
      (ToU128(subnet.address()) - ToU128(pool.address())) >> host_bits;
  if (offset >= *count) {
    return MakeError(EINVAL, what + " is beyond the first " +
                                 std::to_string(*count) +
                                 " subnets of the pool");
  }
  return uint64_t(offset);
}

Result<uint64_t> LowestFreeIndex(std::span<const uint64_t> used,
                                 uint64_t count) {
  for (size_t i = 1; i < used.size(); ++i) {
    if (used[i] <= used[i - 1]) {
      return MakeError(EINVAL,
                       "used subnet indices are not strictly ascending");
    }
  }
  // Ascending and distinct: used[i] == i up to the first gap, and the first
  // i where that fails is the lowest free index.
  uint64_t lowest = 0;
  while (lowest < used.size() && used[lowest] == lowest) ++lowest;
  if (lowest >= count) {
    return MakeError(ENOSPC, "the address pool is full (" +
                                 std::to_string(count) +
                                 " subnets, all in use)");
  }
  return lowest;
}

}  // namespace zl::overlay
