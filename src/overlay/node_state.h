#pragma once
// NodeState: what a node remembers about its overlay across restarts,
// DIR/node.json (written atomically, mode 0600; no secret in it: the private
// key lives in identity.key).
//
// A node is in no overlay (no file), the control node of one (role
// "control": the store in DIR/store.db is its source of truth and the cached
// view below mirrors it), or a member (role "member": the cached view is the
// last state it received from the control node, so after a restart it brings
// its tunnels back before the control node answers).
//
// A file that exists but cannot be parsed or fails validation is an error
// that names the file: the daemon refuses to start rather than start afresh.
//
// Thread safety: values; Load/Save as state_files.h.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/ip.h"
#include "base/result.h"
#include "crypto/keys.h"
#include "overlay/model.h"

namespace zl::overlay {

struct NodeState {
  enum class Role { kControl, kMember };
  Role role = Role::kMember;
  OverlayParams params;
  Member self;
  // How this node reaches the control node (members), or its own (control).
  crypto::PublicKey control_public_key;
  std::vector<Endpoint> control_endpoints;
  IpAddress control_address;
  // The cached membership, at `revision`.
  uint64_t revision = 0;
  std::vector<Member> members;  // everyone, this node included
  std::vector<DnsRecord> names;
};
const char* RoleName(NodeState::Role role);

std::string SerializeNodeState(const NodeState& state);
Result<NodeState> ParseNodeState(std::string_view json);

// nullopt when DIR/node.json does not exist.
Result<std::optional<NodeState>> LoadNodeState(const std::string& dir);
Result<void> SaveNodeState(const std::string& dir, const NodeState& state);
// Removes DIR/node.json (after `leave`).
Result<void> RemoveNodeState(const std::string& dir);

}  // namespace zl::overlay
