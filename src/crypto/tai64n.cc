#include "crypto/tai64n.h"

#include <cstring>

#include "base/bytes.h"

namespace zl::crypto {
namespace {

// TAI64 labels second s (Unix time, leap seconds ignored) as 2^62 + s.
constexpr uint64_t kTai64Epoch = uint64_t{1} << 62;
// wireguard-go's whitener: clear the low 24 bits of the nanoseconds.
constexpr uint32_t kNanosMask = ~((uint32_t{1} << 24) - 1);

}  // namespace

Tai64n MakeTai64n(WallTime t) {
  const Duration since_epoch = t.time_since_epoch();
  // floor, not truncation, so a time before 1970 still gets 0 <= nanos < 1e9.
  const auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto nanos = static_cast<uint32_t>((since_epoch - secs).count());
  const uint64_t label = kTai64Epoch + static_cast<uint64_t>(secs.count());

  Tai64n out;
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(label >> (56 - 8 * i));
  StoreBe32(out.data() + 8, nanos & kNanosMask);
  return out;
}

bool Tai64nAfter(const Tai64n& a, const Tai64n& b) {
  return std::memcmp(a.data(), b.data(), kTai64nLen) > 0;
}

}  // namespace zl::crypto
