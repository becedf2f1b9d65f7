#pragma once
// Randomness is a parameter (STYLE.md habit 2): the protocol core takes an
// Rng&. SystemRng reads getrandom(2); tests use DeterministicRng.
//
// Thread safety: SystemRng is thread-safe; DeterministicRng is not.

#include <cstdint>

#include "base/bytes.h"

namespace zl::crypto {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual void Fill(MutableByteSpan out) = 0;
  uint32_t NextU32();
  uint64_t NextU64();
  // Uniform in [0, bound). REQUIRES: bound > 0.
  uint64_t Uniform(uint64_t bound);
};

// The kernel CSPRNG via getrandom(2). Aborts the process if getrandom fails
// (it cannot, once the pool is initialised, on any kernel we support).
class SystemRng final : public Rng {
 public:
  void Fill(MutableByteSpan out) override;
};

// Reproducible stream from a 64-bit seed (ChaCha20 keystream keyed by the
// seed). For tests and fuzzers only: never for keys in production.
class DeterministicRng final : public Rng {
 public:
  explicit DeterministicRng(uint64_t seed);
  void Fill(MutableByteSpan out) override;

 private:
  uint64_t seed_;
  uint64_t block_ = 0;
  uint8_t buf_[64];
  size_t used_ = 64;
};

}  // namespace zl::crypto
