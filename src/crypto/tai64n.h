#pragma once
// TAI64N timestamps (cr.yp.to/libtai/tai64.html) as WireGuard sends them in
// the handshake initiation: 8-byte big-endian seconds (2^62 + Unix seconds,
// leap seconds ignored as the reference implementations do) then 4-byte
// big-endian nanoseconds.

#include <array>
#include <cstdint>

#include "base/clock.h"

namespace zl::crypto {

inline constexpr size_t kTai64nLen = 12;
using Tai64n = std::array<uint8_t, kTai64nLen>;

// Nanoseconds are rounded down to a multiple of 2^24 ns (~16.8 ms), as
// wireguard-go and the kernel do, so the timestamp does not leak a precise
// clock reading.
Tai64n MakeTai64n(WallTime t);
// Byte-wise comparison = chronological order for well-formed timestamps.
bool Tai64nAfter(const Tai64n& a, const Tai64n& b);

}  // namespace zl::crypto
