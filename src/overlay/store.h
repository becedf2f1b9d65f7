#pragma once
// Store: the overlay's source of truth, kept by the control node (DESIGN.md
// §5). One interface, so a later etcd backend can replace the embedded SQLite
// one (sqlite_store.h) without touching its users.
//
// What it guarantees, whatever the backend:
//   - each mutation is one transaction: it happens whole or not at all, and
//     a crash (kill -9) at any moment leaves a store that opens and passes
//     CheckConsistency();
//   - subnets are allocated by the store itself (IPAM, ipam.h) under a
//     uniqueness constraint, so two concurrent token creations, even from two
//     processes, can never reserve the same subnet; a released subnet (token
//     revoked or expired, member removed) returns to the pool, lowest first;
//   - every change to members and DNS names bumps the revision and is
//     logged, so watchers get deltas (ChangesSince).
//
// Errors (errno codes, messages meant for the operator):
//   ENOENT   not initialised / unknown token, member or name
//   EEXIST   already initialised; name or key already taken
//   ENOSPC   the address pool is full
//   EALREADY token already used;  EKEYREVOKED token revoked;
//   EKEYEXPIRED token expired;    EINVAL bad argument;  EIO database error.
//
// Thread safety: every method may be called from any thread. Several Store
// objects (also in several processes) may open the same database.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/ip.h"
#include "base/result.h"
#include "crypto/keys.h"
#include "overlay/model.h"

namespace zl::overlay {

// A consistent view of everything, at one revision.
struct StoreSnapshot {
  uint64_t revision = 0;
  OverlayParams params;
  std::vector<Member> members;  // ordered by name
  std::vector<DnsRecord> names;  // ordered by name
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates the overlay with its first member, the control node, which gets
  // the first subnet. EEXIST if the store already holds an overlay.
  virtual Result<Member> Initialize(const OverlayParams& params,
                                    const std::string& control_name,
                                    const crypto::PublicKey& control_key,
                                    std::optional<Endpoint> control_endpoint,
                                    int64_t now) = 0;
  // ENOENT before Initialize.
  virtual Result<OverlayParams> Params() = 0;

  // --- tokens ---
  // Records a pending token and reserves the next free subnet(s) for it.
  // First releases the subnets of expired pending tokens. `node_name` (may be
  // empty) must not be a member's name or another pending token's (EEXIST).
  virtual Result<TokenRecord> CreateToken(const std::string& id,
                                          const std::string& node_name,
                                          const crypto::PublicKey& onetime_key,
                                          int64_t now, int64_t expires_at) = 0;
  virtual Result<std::vector<TokenRecord>> Tokens() = 0;  // newest first
  virtual Result<TokenRecord> FindToken(const std::string& id) = 0;
  // Revokes a pending token and releases its subnet(s). ENOENT, EALREADY
  // (used), EKEYREVOKED (already revoked).
  virtual Result<TokenRecord> RevokeToken(const std::string& id) = 0;
  // In one transaction: checks the token is pending and unexpired, marks it
  // used and adds the member with the token's subnet(s). If the token names a
  // node, `name` must be that name (EINVAL). EEXIST if the name or key is a
  // member's already.
  virtual Result<Member> RedeemToken(const std::string& id,
                                     const std::string& name,
                                     const crypto::PublicKey& node_key,
                                     std::optional<Endpoint> endpoint,
                                     int64_t now) = 0;

  // --- members ---
  virtual Result<std::vector<Member>> Members() = 0;  // ordered by name
  virtual Result<Member> FindMember(const std::string& name) = 0;
  virtual Result<Member> FindMemberByKey(const crypto::PublicKey& key) = 0;
  // Sets a member's endpoint (a node may change only its own record: the
  // caller checks who asks). Bumps the revision only if it changed.
  virtual Result<Member> UpdateEndpoint(const std::string& name,
                                        std::optional<Endpoint> endpoint) = 0;
  // Removes a member and releases its subnet(s). EINVAL for the control node.
  virtual Result<Member> RemoveMember(const std::string& name) = 0;

  // --- extra DNS names ---
  // Adds or replaces the record named `record.name` (never appends a second
  // address). EINVAL for a bad name, or a name that is a member's.
  virtual Result<DnsRecord> RegisterName(const DnsRecord& record) = 0;
  virtual Result<void> UnregisterName(const std::string& name) = 0;
  virtual Result<std::vector<DnsRecord>> Names() = 0;

  // --- watching ---
  virtual Result<uint64_t> Revision() = 0;
  virtual Result<StoreSnapshot> Snapshot() = 0;
  // The changes after `revision`, oldest first. full_resync (and no changes)
  // when `revision` is older than the oldest change still logged, or newer
  // than the store's revision.
  virtual Result<Delta> ChangesSince(uint64_t revision) = 0;

  // Checks the invariants (every member and pending token owns its subnets,
  // no subnet is owned twice or outside the pool, the revision is at least
  // every logged change's) and the database's own integrity. EIO with what is
  // wrong.
  virtual Result<void> CheckConsistency() = 0;
};

}  // namespace zl::overlay
