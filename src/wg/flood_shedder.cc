#include "wg/flood_shedder.h"

#include <algorithm>

#include "wg/ratelimiter.h"

namespace zl::wg {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

}  // namespace

FloodShedder::FloodShedder(uint32_t per_second, uint32_t burst,
                           const crypto::SipHashKey& key)
    : interval_ns_(kNanosPerSecond / std::max<uint32_t>(per_second, 1)),
      tolerance_ns_(interval_ns_ * (int64_t(std::max<uint32_t>(burst, 1)) - 1)),
      key_(key) {}

size_t FloodShedder::BucketOf(const IpAddress& source) const {
  const SourcePrefix p = SourcePrefixOf(source);
  uint8_t input[9];
  input[0] = p.v6 ? 6 : 4;
  StoreLe64(input + 1, p.prefix);
  return size_t(crypto::SipHash24(key_, ByteSpan(input)) % kBuckets);
}

bool FloodShedder::Allow(const IpAddress& source, MonoTime now) {
  if (tat_ns_.empty()) tat_ns_.assign(kBuckets, 0);
  int64_t& tat = tat_ns_[BucketOf(source)];
  const int64_t t = now.time_since_epoch().count();
  // GCRA: a message conforms unless the bucket is more than `tolerance`
  // ahead of now; each one moves it an interval further.
  const int64_t next = std::max(tat, t);
  if (next - t > tolerance_ns_) return false;
  tat = next + interval_ns_;
  return true;
}

}  // namespace zl::wg
