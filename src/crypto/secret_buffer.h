#pragma once
// SecretBuffer: a growable byte buffer for text that may carry secrets (the
// UAPI's hex private keys and preshared keys, on their way in and out). Its
// bytes are wiped whenever the buffer lets go of them: on clear(), on a
// shrinking resize(), when it outgrows a block (the old block is wiped before
// it is freed), and on destruction. Unlike std::string it has no inline
// small-string storage that could keep a short piece of a key unwiped.
//
// Thread safety: a value; one thread at a time.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "crypto/keys.h"

namespace zl::crypto {

// An allocator that wipes each block before it frees it.
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) {
    SecureWipe(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  friend bool operator==(const WipingAllocator&, const WipingAllocator<U>&) {
    return true;
  }
};

class SecretBuffer {
 public:
  SecretBuffer() = default;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  SecretBuffer(SecretBuffer&&) noexcept = default;
  SecretBuffer& operator=(SecretBuffer&&) noexcept = default;
  ~SecretBuffer() { clear(); }

  char* data() { return bytes_.data(); }
  const char* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  std::string_view view() const { return {bytes_.data(), bytes_.size()}; }

  void append(std::string_view text) {
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }
  void push_back(char c) { bytes_.push_back(c); }
  SecretBuffer& operator+=(std::string_view text) {
    append(text);
    return *this;
  }
  // Reserving more moves the bytes to a new block (the old one is wiped).
  void reserve(size_t n) { bytes_.reserve(n); }
  // Grows with zeros, or wipes what a shrink drops.
  void resize(size_t n) {
    if (n < bytes_.size()) SecureWipe(bytes_.data() + n, bytes_.size() - n);
    bytes_.resize(n);
  }
  // Wipes the contents; the capacity is kept.
  void clear() { resize(0); }

 private:
  std::vector<char, WipingAllocator<char>> bytes_;
};

}  // namespace zl::crypto
