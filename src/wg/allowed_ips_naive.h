#pragma once
// NaiveAllowedIps: a deliberately naive reference for AllowedIps, for tests
// and fuzzers only (the kernel's selftest does the same). A flat vector of
// (masked prefix, peer) searched linearly, byte by byte, so that it shares no
// logic with the trie it checks. Never use it on a packet path.
//
// Thread safety: none.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/ip.h"
#include "wg/peer_id.h"

namespace zl::wg {

class NaiveAllowedIps {
 public:
  using Entry = std::pair<Cidr, PeerId>;  // prefix in masked form

  void Insert(const Cidr& prefix, PeerId peer) {
    if (peer == kNoPeer) return;
    const Cidr masked = prefix.Masked();
    for (Entry& e : entries_) {
      if (e.first == masked) {
        e.second = peer;
        return;
      }
    }
    entries_.emplace_back(masked, peer);
  }

  bool Remove(const Cidr& prefix, PeerId peer) {
    const Cidr masked = prefix.Masked();
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].first == masked && entries_[i].second == peer) {
        entries_[i] = entries_.back();
        entries_.pop_back();
        return true;
      }
    }
    return false;
  }

  void RemoveByPeer(PeerId peer) {
    std::erase_if(entries_,
                  [peer](const Entry& e) { return e.second == peer; });
  }

  PeerId Lookup(IpAddress::Family family, const uint8_t* addr) const {
    PeerId best = kNoPeer;
    int best_len = -1;
    for (const Entry& e : entries_) {
      if (e.first.prefix_len() > best_len && Contains(e.first, family, addr)) {
        best = e.second;
        best_len = e.first.prefix_len();
      }
    }
    return best;
  }

  // The prefixes of `peer`, sorted.
  std::vector<Cidr> PrefixesOf(PeerId peer) const {
    std::vector<Cidr> out;
    for (const Entry& e : entries_) {
      if (e.second == peer) out.push_back(e.first);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }
  void Clear() { entries_.clear(); }

 private:
  static bool Contains(const Cidr& masked, IpAddress::Family family,
                       const uint8_t* addr) {
    if (masked.address().family() != family) return false;
    const uint8_t* prefix = masked.address().bytes().data();
    unsigned len = masked.prefix_len();
    for (size_t i = 0; len > 0; ++i) {
      const unsigned take = len >= 8 ? 8 : len;
      const uint8_t mask = uint8_t(0xff << (8 - take));
      if ((addr[i] & mask) != prefix[i]) return false;
      len -= take;
    }
    return true;
  }

  std::vector<Entry> entries_;
};

}  // namespace zl::wg
