// Fuzzes AllowedIps against NaiveAllowedIps. The input is a sequence of ops;
// each starts with one byte: bit 0 picks the family, bits 1-2 the op.
//   insert / remove:  len, peer, address (4 or 16 bytes)
//   lookup:           address
//   remove-by-peer:   peer
// len is taken modulo (max + 1), peer modulo 9 (0 is kNoPeer, which both
// tables must ignore). Any disagreement aborts.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/ip.h"
#include "wg/allowed_ips.h"
#include "wg/allowed_ips_naive.h"

namespace {

using zl::Cidr;
using zl::IpAddress;
using zl::wg::AllowedIps;
using zl::wg::NaiveAllowedIps;
using zl::wg::PeerId;

constexpr PeerId kMaxPeer = 8;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "allowed_ips_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void CheckLookup(const AllowedIps& trie, const NaiveAllowedIps& naive,
                 IpAddress::Family family, const uint8_t* addr) {
  const PeerId got = trie.Lookup(family, addr);
  const PeerId want = naive.Lookup(family, addr);
  if (got != want) {
    const IpAddress a = family == IpAddress::Family::kV6 ? IpAddress::V6(addr)
                                                         : IpAddress::V4(addr);
    Fail("lookup", a.ToString() + " trie " + std::to_string(got) + " naive " +
                       std::to_string(want));
  }
}

void CheckContents(const AllowedIps& trie, const NaiveAllowedIps& naive) {
  if (!trie.CheckInvariantsForTesting()) Fail("invariants", "");
  for (PeerId peer = 1; peer <= kMaxPeer; ++peer) {
    std::vector<Cidr> got;
    trie.ForEach(peer, [&got](const Cidr& c) { got.push_back(c); });
    std::sort(got.begin(), got.end());
    if (got != naive.PrefixesOf(peer)) {
      Fail("ForEach", "peer " + std::to_string(peer));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  AllowedIps trie;
  NaiveAllowedIps naive;
  size_t pos = 0;
  while (pos < size) {
    const uint8_t op = data[pos++];
    const bool v6 = op & 1;
    const auto family = v6 ? IpAddress::Family::kV6 : IpAddress::Family::kV4;
    const size_t addr_size = v6 ? 16 : 4;
    const unsigned max_bits = v6 ? 128 : 32;
    const unsigned kind = (op >> 1) & 3;

    if (kind == 3) {  // remove by peer
      if (pos + 1 > size) break;
      const PeerId peer = data[pos++] % (kMaxPeer + 1);
      trie.RemoveByPeer(peer);
      naive.RemoveByPeer(peer);
    } else if (kind == 2) {  // lookup
      if (pos + addr_size > size) break;
      CheckLookup(trie, naive, family, data + pos);
      pos += addr_size;
    } else {  // insert or remove
      if (pos + 2 + addr_size > size) break;
      const uint8_t len = uint8_t(data[pos] % (max_bits + 1));
      const PeerId peer = data[pos + 1] % (kMaxPeer + 1);
      const uint8_t* addr = data + pos + 2;
      pos += 2 + addr_size;
      const Cidr prefix(v6 ? IpAddress::V6(addr) : IpAddress::V4(addr), len);
      if (kind == 0) {
        trie.Insert(prefix, peer);
        naive.Insert(prefix, peer);
      } else if (trie.Remove(prefix, peer) != naive.Remove(prefix, peer)) {
        Fail("remove", prefix.ToString() + " peer " + std::to_string(peer));
      }
      CheckLookup(trie, naive, family, addr);
    }
    if (trie.size() != naive.size()) {
      Fail("size",
           std::to_string(trie.size()) + " vs " + std::to_string(naive.size()));
    }
  }
  CheckContents(trie, naive);
  return 0;
}
