#include "wg/allowed_ips.h"

#include <algorithm>
#include <bit>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/bytes.h"

namespace zl::wg {
namespace {

// Addresses and prefixes are handled as a 128-bit big-endian number split in
// two host-order words: bit 0 of the address is the top bit of `hi`. An IPv4
// address fills the top 32 bits of `hi`.
struct Key {
  uint64_t hi = 0;
  uint64_t lo = 0;
};

Key LoadKey(bool v6, const uint8_t* addr) {
  if (!v6) return {uint64_t{LoadBe32(addr)} << 32, 0};
  return {(uint64_t{LoadBe32(addr)} << 32) | LoadBe32(addr + 4),
          (uint64_t{LoadBe32(addr + 8)} << 32) | LoadBe32(addr + 12)};
}

// REQUIRES: bits <= 128.
Key MaskFor(unsigned bits) {
  Key m;
  if (bits >= 64) {
    m.hi = ~uint64_t{0};
    m.lo = bits == 64 ? 0 : ~uint64_t{0} << (128 - bits);
  } else {
    m.hi = bits == 0 ? 0 : ~uint64_t{0} << (64 - bits);
  }
  return m;
}

Key Masked(Key k, unsigned bits) {
  const Key m = MaskFor(bits);
  return {k.hi & m.hi, k.lo & m.lo};
}

// Bit `pos` (0 = most significant) of `k`. For pos == 128 it returns some bit
// without undefined behaviour; callers only use it to pick a child that a
// full-length node does not have.
inline unsigned BitAt(const Key& k, unsigned pos) {
  return pos < 64 ? unsigned(k.hi >> (63 - pos)) & 1
                  : unsigned(k.lo >> ((127 - pos) & 63)) & 1;
}

// Length of the common leading bits of `a` and `b` (128 if equal).
unsigned CommonBits(const Key& a, const Key& b) {
  if (const uint64_t x = a.hi ^ b.hi; x != 0) return std::countl_zero(x);
  return 64 + std::countl_zero(a.lo ^ b.lo);
}

unsigned MaxBits(bool v6) { return v6 ? 128 : 32; }

}  // namespace

struct AllowedIps::Node {
  Node(bool is_v6, Key k, uint8_t len, Node* up)
      : key(Masked(k, len)),
        mask(MaskFor(len)),
        bits(len),
        v6(is_v6),
        parent(up) {}

  bool Matches(const Key& k) const {
    return (((k.hi ^ key.hi) & mask.hi) | ((k.lo ^ key.lo) & mask.lo)) == 0;
  }
  int ChildCount() const { return (child[0] ? 1 : 0) + (child[1] ? 1 : 0); }

  Key key;   // masked to `bits`
  Key mask;  // MaskFor(bits), kept so Lookup does no shifting per node
  uint8_t bits;
  bool v6;
  PeerId peer = kNoPeer;  // kNoPeer: a branch point with two children
  Node* parent;
  std::unique_ptr<Node> child[2];
  // The owner's list of nodes (see peer_heads_).
  Node* peer_prev = nullptr;
  Node* peer_next = nullptr;
};

AllowedIps::AllowedIps() = default;
AllowedIps::~AllowedIps() = default;

std::unique_ptr<AllowedIps::Node>& AllowedIps::SlotOf(Node* node) {
  if (node->parent == nullptr) return RootOf(node->v6);
  return node->parent->child[0].get() == node ? node->parent->child[0]
                                              : node->parent->child[1];
}

void AllowedIps::LinkToPeer(Node* node, PeerId peer) {
  node->peer = peer;
  node->peer_prev = nullptr;
  node->peer_next = nullptr;
  auto [it, inserted] = peer_heads_.try_emplace(peer, node);
  if (!inserted) {
    node->peer_next = it->second;
    it->second->peer_prev = node;
    it->second = node;
  }
}

void AllowedIps::UnlinkFromPeer(Node* node) {
  if (node->peer_next) node->peer_next->peer_prev = node->peer_prev;
  if (node->peer_prev) {
    node->peer_prev->peer_next = node->peer_next;
  } else if (node->peer_next) {
    peer_heads_[node->peer] = node->peer_next;
  } else {
    peer_heads_.erase(node->peer);
  }
  node->peer_prev = nullptr;
  node->peer_next = nullptr;
  node->peer = kNoPeer;
}

void AllowedIps::Insert(const Cidr& prefix, PeerId peer) {
  if (peer == kNoPeer) return;
  const bool v6 = prefix.address().is_v6();
  const uint8_t bits = prefix.prefix_len();
  const Key key = Masked(LoadKey(v6, prefix.address().bytes().data()), bits);

  Node* parent = nullptr;
  std::unique_ptr<Node>* slot = &RootOf(v6);
  for (;;) {
    Node* node = slot->get();
    if (node == nullptr) {
      *slot = std::make_unique<Node>(v6, key, bits, parent);
      LinkToPeer(slot->get(), peer);
      ++size_;
      return;
    }
    const uint8_t common = uint8_t(std::min<unsigned>(
        CommonBits(key, node->key), std::min(bits, node->bits)));
    if (common == node->bits) {
      if (common == bits) {  // the same prefix: it changes owner
        if (node->peer == kNoPeer) {
          ++size_;
        } else {
          UnlinkFromPeer(node);
        }
        LinkToPeer(node, peer);
        return;
      }
      parent = node;
      slot = &node->child[BitAt(key, node->bits)];
      continue;
    }

    // The new prefix does not extend `node`'s: it goes in `node`'s place.
    std::unique_ptr<Node> old = std::move(*slot);
    if (common == bits) {
      // The new prefix contains `node`: it becomes its parent.
      auto fresh = std::make_unique<Node>(v6, key, bits, parent);
      old->parent = fresh.get();
      fresh->child[BitAt(old->key, bits)] = std::move(old);
      LinkToPeer(fresh.get(), peer);
      *slot = std::move(fresh);
    } else {
      // They differ at bit `common`: a branch point holds both.
      auto branch = std::make_unique<Node>(v6, key, common, parent);
      auto leaf = std::make_unique<Node>(v6, key, bits, branch.get());
      LinkToPeer(leaf.get(), peer);
      old->parent = branch.get();
      const unsigned side = BitAt(key, common);
      branch->child[side] = std::move(leaf);
      branch->child[side ^ 1] = std::move(old);
      *slot = std::move(branch);
    }
    ++size_;
    return;
  }
}

bool AllowedIps::Contains(const Cidr& prefix) const {
  const Node* node = FindExact(prefix);
  return node != nullptr && node->peer != kNoPeer;
}

AllowedIps::Node* AllowedIps::FindExact(const Cidr& prefix) const {
  const bool v6 = prefix.address().is_v6();
  const uint8_t bits = prefix.prefix_len();
  const Key key = Masked(LoadKey(v6, prefix.address().bytes().data()), bits);
  Node* node = roots_[v6 ? 1 : 0].get();
  while (node != nullptr && node->bits <= bits && node->Matches(key)) {
    if (node->bits == bits) return node;
    node = node->child[BitAt(key, node->bits)].get();
  }
  return nullptr;
}

void AllowedIps::RemoveNode(Node* node) {
  UnlinkFromPeer(node);
  --size_;
  const int children = node->ChildCount();
  if (children == 2) return;  // still needed as a branch point

  Node* parent = node->parent;
  std::unique_ptr<Node>& slot = SlotOf(node);
  if (children == 1) {
    std::unique_ptr<Node> only =
        std::move(node->child[0] ? node->child[0] : node->child[1]);
    only->parent = parent;
    slot = std::move(only);  // frees `node`
    return;
  }
  slot.reset();
  // A branch point that lost one of its two children is no longer needed.
  if (parent != nullptr && parent->peer == kNoPeer) {
    std::unique_ptr<Node>& parent_slot = SlotOf(parent);
    std::unique_ptr<Node> other =
        std::move(parent->child[0] ? parent->child[0] : parent->child[1]);
    other->parent = parent->parent;
    parent_slot = std::move(other);  // frees `parent`
  }
}

bool AllowedIps::Remove(const Cidr& prefix, PeerId peer) {
  if (peer == kNoPeer) return false;
  Node* node = FindExact(prefix);
  if (node == nullptr || node->peer != peer) return false;
  RemoveNode(node);
  return true;
}

void AllowedIps::RemoveByPeer(PeerId peer) {
  if (peer == kNoPeer) return;
  for (auto it = peer_heads_.find(peer); it != peer_heads_.end();
       it = peer_heads_.find(peer)) {
    RemoveNode(it->second);
  }
}

PeerId AllowedIps::Lookup(IpAddress::Family family, const uint8_t* addr) const {
  const bool v6 = family == IpAddress::Family::kV6;
  const Key key = LoadKey(v6, addr);
  PeerId found = kNoPeer;
  // Prefixes only get longer going down, and a node that does not match
  // means nothing below it does.
  for (const Node* node = roots_[v6 ? 1 : 0].get();
       node != nullptr && node->Matches(key);
       node = node->child[BitAt(key, node->bits)].get()) {
    if (node->peer != kNoPeer) found = node->peer;
  }
  return found;
}

PeerId AllowedIps::Lookup(const IpAddress& address) const {
  return Lookup(address.family(), address.bytes().data());
}

void AllowedIps::ForEach(PeerId peer,
                         const std::function<void(const Cidr&)>& fn) const {
  auto it = peer_heads_.find(peer);
  if (it == peer_heads_.end()) return;
  for (const Node* node = it->second; node != nullptr; node = node->peer_next) {
    uint8_t bytes[16];
    StoreBe32(bytes, uint32_t(node->key.hi >> 32));
    StoreBe32(bytes + 4, uint32_t(node->key.hi));
    StoreBe32(bytes + 8, uint32_t(node->key.lo >> 32));
    StoreBe32(bytes + 12, uint32_t(node->key.lo));
    fn(Cidr(node->v6 ? IpAddress::V6(bytes) : IpAddress::V4(bytes),
            node->bits));
  }
}

void AllowedIps::Clear() {
  roots_[0].reset();
  roots_[1].reset();
  peer_heads_.clear();
  size_ = 0;
}

bool AllowedIps::CheckInvariantsForTesting() const {
  std::unordered_set<const Node*> listed;
  for (const auto& [peer, head] : peer_heads_) {
    if (peer == kNoPeer || head == nullptr || head->peer_prev != nullptr) {
      return false;
    }
    for (const Node* node = head; node != nullptr; node = node->peer_next) {
      if (node->peer != peer || !listed.insert(node).second) return false;
      if (node->peer_next && node->peer_next->peer_prev != node) return false;
    }
  }
  if (listed.size() != size_) return false;

  size_t owned = 0;
  std::vector<const Node*> stack;
  for (int family = 0; family < 2; ++family) {
    const bool v6 = family == 1;
    if (roots_[family]) {
      if (roots_[family]->parent != nullptr) return false;
      stack.push_back(roots_[family].get());
    }
    while (!stack.empty()) {
      const Node* node = stack.back();
      stack.pop_back();
      if (node->v6 != v6 || node->bits > MaxBits(v6)) return false;
      const Key mask = MaskFor(node->bits);
      if (node->mask.hi != mask.hi || node->mask.lo != mask.lo) return false;
      if (node->key.hi & ~mask.hi || node->key.lo & ~mask.lo) return false;
      if (node->peer != kNoPeer) {
        ++owned;
        if (!listed.contains(node)) return false;
      } else if (node->ChildCount() != 2) {
        return false;
      }
      for (unsigned side = 0; side < 2; ++side) {
        const Node* child = node->child[side].get();
        if (child == nullptr) continue;
        if (child->parent != node || child->bits <= node->bits ||
            !node->Matches(child->key) ||
            BitAt(child->key, node->bits) != side) {
          return false;
        }
        stack.push_back(child);
      }
    }
  }
  return owned == size_;
}

}  // namespace zl::wg
