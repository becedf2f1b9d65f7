#include "crypto/random.h"

#include <algorithm>

#include "crypto/chacha20.h"

namespace zl::crypto {

uint32_t Rng::NextU32() {
  uint8_t b[4];
  Fill(b);
  return LoadLe32(b);
}

uint64_t Rng::NextU64() {
  uint8_t b[8];
  Fill(b);
  return LoadLe64(b);
}

uint64_t Rng::Uniform(uint64_t bound) {
  // Rejection sampling: values below 2^64 mod bound would make the low
  // residues more likely than the others.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = NextU64();
    if (r >= threshold) return r % bound;
  }
}

DeterministicRng::DeterministicRng(uint64_t seed) : seed_(seed) {}

void DeterministicRng::Fill(MutableByteSpan out) {
  size_t done = 0;
  while (done < out.size()) {
    if (used_ == sizeof(buf_)) {
      // Key = LE64(seed) || 24 zero bytes. OpenSSL's 16-byte ChaCha20 IV is
      // state words 12..15; putting the 64-bit block number in words 12..13
      // and zeros in 14..15 gives the original ChaCha20 stream (64-bit
      // counter, zero 64-bit nonce), so it never wraps.
      uint8_t key[32] = {};
      StoreLe64(key, seed_);
      uint8_t iv[16] = {};
      StoreLe64(iv, block_);
      internal::ChaCha20Block(key, iv, buf_);
      ++block_;
      used_ = 0;
    }
    const size_t n = std::min(out.size() - done, sizeof(buf_) - used_);
    std::copy_n(buf_ + used_, n, out.data() + done);
    used_ += n;
    done += n;
  }
}

}  // namespace zl::crypto
