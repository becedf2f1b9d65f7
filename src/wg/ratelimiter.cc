#include "wg/ratelimiter.h"

#include <algorithm>
#include <chrono>

namespace zl::wg {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
// An entry idle this long with a full bucket is forgotten (kernel: 1 s GC).
constexpr auto kIdleBeforeCollect = std::chrono::seconds(1);
// Entries examined per Allow, and additionally when a new source finds the
// table full. Both bound the work of a single call.
constexpr size_t kCollectPerAllow = 4;
constexpr size_t kCollectWhenFull = 64;

}  // namespace

size_t RateLimiter::KeyHash::operator()(const Key& k) const {
  // splitmix64's finaliser over the seeded key: a bijection, so distinct keys
  // spread well; the seed keeps the bucket positions unpredictable.
  uint64_t x = k.prefix ^ seed ^ (k.v6 ? 0x9e3779b97f4a7c15ULL : 0);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return size_t(x ^ (x >> 31));
}

RateLimiter::RateLimiter(uint32_t per_second, uint32_t burst,
                         size_t max_entries, uint64_t hash_seed)
    : cost_ns_(kNanosPerSecond / std::max<uint32_t>(per_second, 1)),
      max_tokens_ns_(cost_ns_ * std::max<uint32_t>(burst, 1)),
      max_entries_(max_entries),
      index_(0, KeyHash{hash_seed}) {}

SourcePrefix SourcePrefixOf(const IpAddress& address) {
  const auto& b = address.bytes();
  if (address.is_v4()) return SourcePrefix{LoadBe32(b.data()), false};
  static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                                  0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kV4MappedPrefix), std::end(kV4MappedPrefix),
                 b.begin())) {
    return SourcePrefix{LoadBe32(b.data() + 12), false};
  }
  return SourcePrefix{
      (uint64_t(LoadBe32(b.data())) << 32) | LoadBe32(b.data() + 4), true};
}

void RateLimiter::Refill(Bucket& bucket, MonoTime now) const {
  if (now <= bucket.last) return;
  const int64_t elapsed =
      std::min<int64_t>((now - bucket.last).count(), max_tokens_ns_);
  bucket.tokens_ns = std::min(bucket.tokens_ns + elapsed, max_tokens_ns_);
  bucket.last = now;
}

bool RateLimiter::IsStale(const Bucket& bucket, MonoTime now) const {
  if (now - bucket.last <= kIdleBeforeCollect) return false;
  const int64_t idle =
      std::min<int64_t>((now - bucket.last).count(), max_tokens_ns_);
  return bucket.tokens_ns + idle >= max_tokens_ns_;
}

void RateLimiter::RemoveAt(size_t i) {
  index_.erase(buckets_[i].key);
  if (i + 1 != buckets_.size()) {
    buckets_[i] = buckets_.back();
    index_[buckets_[i].key] = i;
  }
  buckets_.pop_back();
}

void RateLimiter::Collect(MonoTime now, size_t budget) {
  for (; budget > 0 && !buckets_.empty(); --budget) {
    if (gc_cursor_ >= buckets_.size()) gc_cursor_ = 0;
    if (IsStale(buckets_[gc_cursor_], now)) {
      RemoveAt(gc_cursor_);  // the last entry moved here: examine it next
    } else {
      ++gc_cursor_;
    }
  }
}

bool RateLimiter::Allow(const IpAddress& source, MonoTime now) {
  Collect(now, kCollectPerAllow);
  const Key key = SourcePrefixOf(source);
  if (auto it = index_.find(key); it != index_.end()) {
    Bucket& bucket = buckets_[it->second];
    Refill(bucket, now);
    if (bucket.tokens_ns < cost_ns_) return false;
    bucket.tokens_ns -= cost_ns_;
    return true;
  }
  if (buckets_.size() >= max_entries_) {
    Collect(now, kCollectWhenFull);
    if (buckets_.size() >= max_entries_) return false;
  }
  index_.emplace(key, buckets_.size());
  buckets_.push_back(Bucket{key, max_tokens_ns_ - cost_ns_, now});
  return true;
}

}  // namespace zl::wg
