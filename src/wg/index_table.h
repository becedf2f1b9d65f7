#pragma once
// IndexTable: the local 32-bit indices WireGuard puts in the sender index of
// its handshake messages and receives back as the receiver index (whitepaper
// §5.4.2–§5.4.6). An index names either a handshake in flight or a keypair, so
// the engine can tell what an incoming receiver index refers to.
//
// Indices are random and non-zero, drawn from the caller's Rng (4 bytes per
// attempt through Rng::Fill, read little-endian), retried until unused.
// Allocate, Replace and Erase are control-path operations and may allocate;
// Find is the per-packet path and does not.
//
// Thread safety: none; single-threaded, owned by the engine.

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "crypto/random.h"
#include "wg/peer_id.h"

namespace zl::wg {

class IndexTable {
 public:
  struct Entry {
    enum class Kind : uint8_t { kHandshake, kKeypair };
    PeerId peer = kNoPeer;
    Kind kind = Kind::kHandshake;

    friend bool operator==(const Entry&, const Entry&) = default;
  };

  IndexTable() = default;
  IndexTable(const IndexTable&) = delete;
  IndexTable& operator=(const IndexTable&) = delete;

  // Picks a random index that is non-zero and not in use, maps it to `entry`
  // and returns it. Retries on collision, so it terminates as long as the
  // table is not full (2^32 - 1 entries) and the Rng is not stuck.
  uint32_t Allocate(crypto::Rng& rng, Entry entry);

  // The entry for `index`, or nullptr. The pointer is valid until the next
  // Allocate, Replace, Erase or Clear.
  const Entry* Find(uint32_t index) const;

  // Changes what an existing index refers to (a handshake that became a
  // keypair keeps its index). False, and nothing inserted, if `index` is
  // not in use.
  bool Replace(uint32_t index, Entry entry);

  // Frees `index` for reuse. False if it was not in use.
  bool Erase(uint32_t index);

  void Clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  std::unordered_map<uint32_t, Entry> entries_;
};

}  // namespace zl::wg
