#pragma once
// The JSON form of the overlay's data model: the wire format of the HTTP API
// between nodes (and of the local API), and of the payloads the SQLite store
// keeps in its change log.
//
// Field names are snake_case and mirror the structs (model.h, store.h).
// Keys are base64 as wg(8) prints them, addresses, CIDRs and endpoints are
// strings in their usual text form ("10.200.3.0/24", "[fd42::1]:51820"),
// times are unix seconds. An optional field is left out when unset; on input,
// a missing field and null both mean unset.
//
// The *FromJson functions are strict about what they read: every required
// field present with the right JSON type (an integer is never a float or a
// string), integers in range, addresses and CIDRs well formed and of the right
// family, CIDRs without host bits, keys exactly 32 bytes and not all zero,
// names valid DNS labels, and the cross-field rules below. Unknown fields are
// ignored, so a newer node may add fields without breaking older ones. They
// never throw: bad input is EINVAL with a message naming the field
// ("snapshot.members[2].public_key: ...").
//
// No secret is ever in this JSON: a TokenRecord holds only the one-time
// public key.
//
// Thread safety: pure functions.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "overlay/model.h"
#include "overlay/store.h"

namespace zl::overlay {

nlohmann::json ToJson(const OverlayParams& params);
nlohmann::json ToJson(const Member& member);
nlohmann::json ToJson(const TokenRecord& token);
nlohmann::json ToJson(const DnsRecord& record);
nlohmann::json ToJson(const Change& change);
nlohmann::json ToJson(const Delta& delta);
nlohmann::json ToJson(const StoreSnapshot& snapshot);

// ValidateParams() holds.
Result<OverlayParams> ParamsFromJson(const nlohmann::json& json);
Result<Member> MemberFromJson(const nlohmann::json& json);
// used_by is a node name exactly when the state is "used".
Result<TokenRecord> TokenRecordFromJson(const nlohmann::json& json);
// ValidateDnsRecord() holds.
Result<DnsRecord> DnsRecordFromJson(const nlohmann::json& json);
// revision >= 1; `member` present exactly for member_upsert, `record` exactly
// for name_upsert, each with the change's name.
Result<Change> ChangeFromJson(const nlohmann::json& json);
// Changes strictly ascending by revision, none past the delta's revision; no
// changes with full_resync.
Result<Delta> DeltaFromJson(const nlohmann::json& json);
// Members and names strictly ascending by name (so unique), no name both a
// member's and a registered one, unique keys, every member's subnets one of
// the pool's (ipam.h; an IPv6 one exactly when the overlay has IPv6) and
// owned by no other member, at most one control member, no revision past the
// snapshot's.
Result<StoreSnapshot> SnapshotFromJson(const nlohmann::json& json);

// Parses JSON text. EINVAL with the parser's message, or for nesting deeper
// than 64 levels (so no later recursion over the value can exhaust the
// stack); never throws.
Result<nlohmann::json> ParseJson(std::string_view text);
// Compact JSON text; invalid UTF-8 in strings is replaced, never thrown on.
std::string DumpJson(const nlohmann::json& json);

}  // namespace zl::overlay
