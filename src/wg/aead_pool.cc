#include "wg/aead_pool.h"

#include <utility>

namespace zl::wg {

// Room for as many callers as the machine is likely to have in the engine
// at once, so giving a context back does not allocate after warm-up.
constexpr size_t kReservedContexts = 16;

AeadPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      aead_(std::move(other.aead_)),
      wipe_epoch_(other.wipe_epoch_) {}

AeadPool::Lease::~Lease() {
  if (aead_) pool_->Give(std::move(aead_), wipe_epoch_);
}

AeadPool::AeadPool() {
  MutexLock lock(mu_);
  idle_.reserve(kReservedContexts);
}

AeadPool::Lease AeadPool::Take() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<crypto::ChaChaPoly> aead = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(aead), wipe_epoch_);
    }
    ++made_;
  }
  // A fresh context holds no key, so the epoch it was made in does not
  // matter; it is read again for the Lease only to avoid a needless wipe.
  auto aead = std::make_unique<crypto::ChaChaPoly>();
  MutexLock lock(mu_);
  return Lease(*this, std::move(aead), wipe_epoch_);
}

void AeadPool::Give(std::unique_ptr<crypto::ChaChaPoly> aead,
                    uint64_t wipe_epoch) {
  MutexLock lock(mu_);
  // Lent before a WipeIdle(): it may hold a key that was to be wiped then.
  if (wipe_epoch != wipe_epoch_) aead->Wipe();
  idle_.push_back(std::move(aead));
}

void AeadPool::WipeIdle() {
  MutexLock lock(mu_);
  ++wipe_epoch_;
  for (auto& aead : idle_) aead->Wipe();
}

bool AeadPool::AnyHoldsKeyForTesting() {
  MutexLock lock(mu_);
  for (auto& aead : idle_) {
    if (aead->HoldsKeyForTesting()) return true;
  }
  return false;
}

size_t AeadPool::size() {
  MutexLock lock(mu_);
  return made_;
}

}  // namespace zl::wg
