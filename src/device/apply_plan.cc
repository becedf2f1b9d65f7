#include "device/apply_plan.h"

#include <algorithm>

namespace zl::device {

std::vector<ApplyStep> PlanApplySteps(const ConfigRequest& request,
                                      size_t budget) {
  std::vector<ApplyStep> steps;
  ApplyStep step;
  size_t used = 0;
  auto close_step = [&] {
    if (step.empty()) return;
    steps.push_back(std::move(step));
    step.clear();
    used = 0;
  };
  for (size_t i = 0; i < request.peers.size(); ++i) {
    const PeerConfig& block = request.peers[i];
    // A removal ignores the rest of its block.
    const size_t prefixes = block.remove ? 0 : block.allowed_ips.size();
    size_t next = 0;
    bool head = true;
    while (head || next < prefixes) {
      const size_t fixed = head ? kPeerBlockCost : 0;
      const size_t least = fixed + (next < prefixes ? kPrefixCost : 0);
      if (used + least > budget) close_step();
      const size_t room =
          budget > used + fixed ? (budget - used - fixed) / kPrefixCost : 0;
      // An empty step always takes something, so a tiny budget still ends.
      size_t take = std::min(prefixes - next, room);
      if (take == 0 && !head) take = 1;
      step.push_back(PeerSlice{i, next, next + take, head});
      used += fixed + take * kPrefixCost;
      next += take;
      head = false;
      if (next < prefixes) close_step();  // the rest does not fit
    }
  }
  close_step();
  return steps;
}

wg::PeerUpdate ToPeerUpdate(const PeerConfig& block, const PeerSlice& slice) {
  wg::PeerUpdate u;
  u.public_key = block.public_key;
  if (slice.head) {
    u.remove = block.remove;
    u.update_only = block.update_only;
    u.preshared_key = block.preshared_key;
    u.endpoint = block.endpoint;
    u.persistent_keepalive_interval = block.persistent_keepalive_interval;
    u.replace_allowed_ips = block.replace_allowed_ips;
  } else {
    // Only adds prefixes to the peer the head configured; if the head did
    // not create it (update_only, or over the peer cap), nothing happens.
    u.update_only = true;
  }
  u.allowed_ips.assign(
      block.allowed_ips.begin() + ptrdiff_t(slice.first_prefix),
      block.allowed_ips.begin() + ptrdiff_t(slice.end_prefix));
  return u;
}

}  // namespace zl::device
