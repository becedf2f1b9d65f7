#include "wg/aead_pool.h"

#include <thread>

namespace zl::wg {

bool AeadPool::TryLend(Slot& slot) {
  uint8_t expected = kFree;
  return slot.state.load(std::memory_order_relaxed) == kFree &&
         slot.state.compare_exchange_strong(expected, kLent,
                                            std::memory_order_acquire);
}

AeadPool::Lease AeadPool::Take() {
  for (;;) {
    for (size_t i = 0; i < kSlots; ++i) {
      Slot& slot = slots_[i];
      if (!TryLend(slot)) continue;
      if (!slot.aead) {
        slot.aead = std::make_unique<crypto::ChaChaPoly>();
        made_.fetch_add(1, std::memory_order_relaxed);
      }
      return Lease(*this, i);
    }
    std::this_thread::yield();  // more than kSlots callers at once
  }
}

void AeadPool::Give(size_t index) {
  Slot& slot = slots_[index];
  uint8_t expected = kLent;
  if (slot.state.compare_exchange_strong(expected, kFree,
                                         std::memory_order_release,
                                         std::memory_order_acquire)) {
    return;
  }
  // kLentWipe: a WipeIdle() came while it was out.
  slot.aead->Wipe();
  slot.state.store(kFree, std::memory_order_release);
}

void AeadPool::WipeIdle() {
  for (Slot& slot : slots_) {
    for (;;) {
      if (TryLend(slot)) {
        if (slot.aead) slot.aead->Wipe();
        slot.state.store(kFree, std::memory_order_release);
        break;
      }
      uint8_t expected = kLent;
      if (slot.state.compare_exchange_strong(expected, kLentWipe,
                                             std::memory_order_acq_rel)) {
        break;  // its holder wipes it
      }
      if (expected == kLentWipe) break;
      // Given back in between: look again.
    }
  }
}

bool AeadPool::AnyHoldsKeyForTesting() {
  bool holds = false;
  for (Slot& slot : slots_) {
    if (!TryLend(slot)) continue;  // on loan: cannot look
    holds |= slot.aead && slot.aead->HoldsKeyForTesting();
    slot.state.store(kFree, std::memory_order_release);
  }
  return holds;
}

}  // namespace zl::wg
