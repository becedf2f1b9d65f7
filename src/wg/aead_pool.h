#pragma once
// AeadPool: the engine's transport AEAD contexts (crypto::ChaChaPoly), one
// per thread inside the engine at once, so seals and opens run outside the
// engine's mutex on as many cores as there are callers.
//
// Take() lends the context given back last (LIFO): a thread that comes back
// tends to get the context it used, still keyed with its key, so
// ChaChaPoly's "re-key only when the key changes" saving survives. The pool
// grows when every context is out on loan (allocations only while it warms
// up to the number of concurrent callers) and never shrinks.
//
// Wiping (see Engine::Tick): WipeIdle() wipes every context in the pool at
// once and marks those out on loan, which are wiped when given back; so no
// context keeps a key used before WipeIdle() past the calls using it then.
//
// Thread safety: every method may be called from any thread. The pool's own
// mutex is held only to hand contexts out and take them back (and for the
// rare wipe), never across a seal or open. A Lease belongs to one thread.

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "crypto/aead.h"

namespace zl::wg {

class AeadPool {
 public:
  // A context on loan; gives it back to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    crypto::ChaChaPoly& aead() { return *aead_; }

   private:
    friend class AeadPool;
    Lease(AeadPool& pool, std::unique_ptr<crypto::ChaChaPoly> aead,
          uint64_t wipe_epoch)
        : pool_(&pool), aead_(std::move(aead)), wipe_epoch_(wipe_epoch) {}
    AeadPool* pool_;
    std::unique_ptr<crypto::ChaChaPoly> aead_;
    uint64_t wipe_epoch_;
  };

  AeadPool();
  AeadPool(const AeadPool&) = delete;
  AeadPool& operator=(const AeadPool&) = delete;
  // REQUIRES: no Lease outstanding.
  ~AeadPool() = default;

  Lease Take() EXCLUDES(mu_);
  // Wipes the idle contexts now and the lent ones when they come back.
  void WipeIdle() EXCLUDES(mu_);
  // True if an idle context holds a non-zero key. Tests only.
  bool AnyHoldsKeyForTesting() EXCLUDES(mu_);
  // Contexts made so far (idle or lent). Tests only.
  size_t size() EXCLUDES(mu_);

 private:
  void Give(std::unique_ptr<crypto::ChaChaPoly> aead, uint64_t wipe_epoch)
      EXCLUDES(mu_);

  Mutex mu_;
  std::vector<std::unique_ptr<crypto::ChaChaPoly>> idle_ GUARDED_BY(mu_);
  size_t made_ GUARDED_BY(mu_) = 0;
  uint64_t wipe_epoch_ GUARDED_BY(mu_) = 0;
};

}  // namespace zl::wg
