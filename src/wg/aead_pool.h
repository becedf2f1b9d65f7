#pragma once
// AeadPool: the engine's transport AEAD contexts (crypto::ChaChaPoly), one
// per thread inside the engine at once, so seals and opens run outside the
// engine's mutex on as many cores as there are callers.
//
// The contexts sit in a fixed row of slots; Take() lends the first free one.
// A caller that is alone in the engine therefore always gets the first
// context, still keyed with the key it used last, so ChaChaPoly's "re-key
// only when the key changes" saving survives; two callers get the first
// two. A slot's context is made on its first loan (allocations only while
// the pool warms up to the number of concurrent callers). No lock: a slot is
// lent and given back with one compare-and-swap each.
//
// Wiping (see Engine::Tick): WipeIdle() wipes every context not on loan at
// once and marks those on loan, which are wiped when given back; so no
// context keeps a key used before WipeIdle() past the calls using it then.
//
// Thread safety: every method may be called from any thread. A Lease
// belongs to one thread. More than kSlots threads at once wait (yielding)
// for a free slot.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "crypto/aead.h"

namespace zl::wg {

class AeadPool {
 public:
  static constexpr size_t kSlots = 64;

  // A context on loan; gives it back to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), slot_(other.slot_) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->Give(slot_);
    }
    crypto::ChaChaPoly& aead() { return *pool_->slots_[slot_].aead; }

   private:
    friend class AeadPool;
    Lease(AeadPool& pool, size_t slot) : pool_(&pool), slot_(slot) {}
    AeadPool* pool_;
    size_t slot_;
  };

  AeadPool() = default;
  AeadPool(const AeadPool&) = delete;
  AeadPool& operator=(const AeadPool&) = delete;
  // REQUIRES: no Lease outstanding.
  ~AeadPool() = default;

  Lease Take();
  // Wipes the idle contexts now and the lent ones when they come back.
  void WipeIdle();
  // True if an idle context holds a non-zero key. Tests only.
  bool AnyHoldsKeyForTesting();
  // Contexts made so far (idle or lent).
  size_t size() const { return made_.load(std::memory_order_relaxed); }

 private:
  enum State : uint8_t {
    kFree,
    kLent,
    kLentWipe,  // lent, to be wiped when given back
  };
  // One per cache line: threads on different slots do not share one.
  struct alignas(64) Slot {
    std::atomic<uint8_t> state{kFree};
    // Touched only by whoever moved `state` from kFree (acquire) until it
    // sets kFree again (release).
    std::unique_ptr<crypto::ChaChaPoly> aead;
  };

  // Moves `slot` from kFree to kLent; false if it was not free.
  static bool TryLend(Slot& slot);
  void Give(size_t slot);

  std::array<Slot, kSlots> slots_;
  std::atomic<size_t> made_{0};
};

}  // namespace zl::wg
