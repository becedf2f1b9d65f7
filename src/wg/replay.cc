#include "wg/replay.h"

#include <algorithm>

namespace zl::wg {

bool ReplayFilter::Accept(uint64_t counter, uint64_t limit) {
  if (counter >= limit) return false;
  // counter < limit <= UINT64_MAX, so this cannot wrap.
  const uint64_t position = counter + 1;
  // Too old: written as a difference so a window near 2^64 cannot overflow.
  if (next_ > position && next_ - position > kWindowSize) return false;

  const uint64_t word = position / kWordBits;
  if (position > next_) {
    // Moving forward: clear the words between the old top and the new one
    // (at most the whole ring), which recycles the oldest part of the window.
    const uint64_t current_word = next_ / kWordBits;
    const uint64_t to_clear =
        std::min<uint64_t>(word - current_word, kRingWords);
    for (uint64_t i = 1; i <= to_clear; ++i) {
      ring_[(current_word + i) & (kRingWords - 1)] = 0;
    }
    next_ = position;
  }

  uint64_t& slot = ring_[word & (kRingWords - 1)];
  const uint64_t bit = uint64_t{1} << (position % kWordBits);
  if (slot & bit) return false;
  slot |= bit;
  return true;
}

bool ReplayFilter::MayAccept(uint64_t counter, uint64_t limit) const {
  if (counter >= limit) return false;
  const uint64_t position = counter + 1;
  if (next_ > position && next_ - position > kWindowSize) return false;
  // Ahead of the window: Accept would recycle words and take it.
  if (position > next_) return true;
  const uint64_t bit = uint64_t{1} << (position % kWordBits);
  return (ring_[(position / kWordBits) & (kRingWords - 1)] & bit) == 0;
}

void ReplayFilter::Reset() {
  next_ = 0;
  ring_.fill(0);
}

}  // namespace zl::wg
