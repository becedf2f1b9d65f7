#pragma once
// AllowedIps: the cryptokey routing table (whitepaper §2). Maps IPv4 and IPv6
// prefixes to the peer that owns them, and answers longest-prefix-match
// lookups both for choosing the peer of an outgoing packet and for checking
// the source address of an incoming one.
//
// A path-compressed binary trie per family (two roots). Every node holds a
// masked prefix; a node either belongs to a peer or is a branch point with
// exactly two children (removal re-compresses, so no useless node survives).
// Each peer's nodes are also on an intrusive list, so listing or removing a
// peer's prefixes does not walk the whole trie.
//
// Semantics follow WireGuard: inserting a prefix that already exists moves it
// to the new peer; host bits of an inserted prefix are ignored (10.0.0.1/8 is
// 10.0.0.0/8); Remove takes a prefix away only from the peer that owns it.
//
// Lookup is the per-packet path: no allocation, no recursion, no IpAddress
// construction; it takes a pointer into the packet's header. Insert and
// removal are control-path operations and allocate or free nodes.
//
// Thread safety: none; single-threaded, owned by the engine.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "base/ip.h"
#include "wg/peer_id.h"

namespace zl::wg {

class AllowedIps {
 public:
  AllowedIps();
  ~AllowedIps();
  AllowedIps(const AllowedIps&) = delete;
  AllowedIps& operator=(const AllowedIps&) = delete;

  // Routes `prefix` (host bits masked) to `peer`, taking it from its previous
  // owner if there was one. A `peer` of kNoPeer is ignored.
  void Insert(const Cidr& prefix, PeerId peer);

  // Removes `prefix` (host bits masked) if `peer` owns exactly that prefix.
  // Returns whether something was removed.
  bool Remove(const Cidr& prefix, PeerId peer);

  // Removes every prefix owned by `peer`.
  void RemoveByPeer(PeerId peer);

  // The owner of the longest prefix containing the address at `addr` (4
  // bytes for kV4, 16 for kV6, network order), or kNoPeer.
  PeerId Lookup(IpAddress::Family family, const uint8_t* addr) const;
  PeerId Lookup(const IpAddress& address) const;

  // Calls `fn` with each prefix of `peer`, in masked form, in no particular
  // order. `fn` must not modify this table.
  void ForEach(PeerId peer, const std::function<void(const Cidr&)>& fn) const;

  void Clear();
  // Number of prefixes in the table (both families).
  size_t size() const { return size_; }
  // True if exactly `prefix` (host bits masked) belongs to some peer.
  bool Contains(const Cidr& prefix) const;

  // Walks the whole trie and checks its structure: prefixes masked and
  // nested, branch points with two children, parent links, peer lists and
  // size() consistent. For tests and fuzzers.
  bool CheckInvariantsForTesting() const;

 private:
  struct Node;

  std::unique_ptr<Node>& RootOf(bool v6) { return roots_[v6 ? 1 : 0]; }
  std::unique_ptr<Node>& SlotOf(Node* node);
  // The node holding exactly `prefix` (masked), owned or not, or nullptr.
  Node* FindExact(const Cidr& prefix) const;
  void LinkToPeer(Node* node, PeerId peer);
  void UnlinkFromPeer(Node* node);
  void RemoveNode(Node* node);

  std::array<std::unique_ptr<Node>, 2> roots_;  // [0] IPv4, [1] IPv6
  // First node of each peer's list.
  std::unordered_map<PeerId, Node*> peer_heads_;
  size_t size_ = 0;
};

}  // namespace zl::wg
