#pragma once
// Splitting a large `set` into steps of bounded work, so the device applies it
// a step per loop turn and the data path runs between the steps (a 65,536-peer
// `wg setconf` would otherwise hold the loop for seconds).
//
// The work of a step is counted in units of about a microsecond, as measured
// on the development machine: a peer block costs kPeerBlockCost (creating a
// peer computes its static-static X25519, ~180 us), each allowed IP
// kPrefixCost (~1 us for a trie insertion). A step holds peer blocks, or parts
// of one, until the next would take it past the budget (kApplyStepBudget,
// ~4 ms); a block with more prefixes than a step holds is split: its head
// carries everything but the later prefixes, the continuations only add
// prefixes to the peer the head configured (update_only, never replace).
// Removing the old peers for replace_peers is done in steps of
// kPeersRemovedPerStep. Interface settings (private key, port, fwmark) are a
// step of their own, first.
//
// Internal to the device layer. Thread safety: pure functions.

#include <cstddef>
#include <vector>

#include "device/config.h"
#include "wg/engine.h"

namespace zl::device {

inline constexpr size_t kPeerBlockCost = 200;
inline constexpr size_t kPrefixCost = 1;
inline constexpr size_t kApplyStepBudget = 4000;
inline constexpr size_t kPeersRemovedPerStep = 1024;

// A peer block, or part of one: request.peers[peer] with its allowed IPs
// [first_prefix, end_prefix).
struct PeerSlice {
  size_t peer = 0;
  size_t first_prefix = 0;
  size_t end_prefix = 0;
  bool head = true;  // the block's first part, with its other settings

  friend bool operator==(const PeerSlice&, const PeerSlice&) = default;
};
using ApplyStep = std::vector<PeerSlice>;

// The peer blocks of `request` in order, as steps of at most `budget` units
// (a step always makes progress, however small the budget).
std::vector<ApplyStep> PlanApplySteps(const ConfigRequest& request,
                                      size_t budget = kApplyStepBudget);

// The engine's update for one slice of `block`.
wg::PeerUpdate ToPeerUpdate(const PeerConfig& block, const PeerSlice& slice);

}  // namespace zl::device
