#pragma once
// The overlay's data model: what the store holds and what nodes exchange.
//
// An overlay has one address space (an IPv4 CIDR, optionally an IPv6 one).
// Each member (node) owns one subnet of it per family (default /24 and /64);
// its own overlay address is the first host of that subnet, and the rest is
// for its containers. The control node is a member like any other, flagged
// `control`. Every change to members and DNS names bumps one revision
// counter; nodes follow the store by asking for the changes since the
// revision they have seen (ChangesSince), or resync in full.
//
// Thread safety: plain values.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip.h"
#include "base/result.h"
#include "crypto/keys.h"

namespace zl::overlay {

inline constexpr std::string_view kDefaultDnsZone = "zlayer.internal";
inline constexpr uint16_t kDefaultListenPort = 51820;
// The control node's peer API: HTTP+JSON over TCP on its overlay address, so
// only reachable through the tunnel.
inline constexpr uint16_t kDefaultApiPort = 51880;
inline constexpr uint16_t kDefaultDnsPort = 53;
// Health probes: UDP echo on every node's overlay address.
inline constexpr uint16_t kDefaultProbePort = 51881;

struct OverlayParams {
  Cidr cidr4;                   // e.g. 10.200.0.0/16
  std::optional<Cidr> cidr6;    // e.g. fd42::/48
  uint8_t node_prefix4 = 24;    // each node's IPv4 subnet
  uint8_t node_prefix6 = 64;    // each node's IPv6 subnet
  std::string dns_zone = std::string(kDefaultDnsZone);
  uint16_t api_port = kDefaultApiPort;
  uint16_t dns_port = kDefaultDnsPort;
  uint16_t probe_port = kDefaultProbePort;
};

struct Member {
  std::string name;  // a DNS label (ValidateNodeName)
  crypto::PublicKey public_key;
  Cidr subnet4;
  std::optional<Cidr> subnet6;
  std::optional<Endpoint> endpoint;  // where peers send WireGuard packets
  bool control = false;
  int64_t joined_at = 0;   // unix seconds
  uint64_t revision = 0;   // store revision of its last change
};

// The node's own overlay address: the first host of its subnet
// (10.200.3.0/24 -> 10.200.3.1).
IpAddress NodeAddress(const Cidr& subnet);
// Enrolment runs in a prefix of its own inside the tunnel, so the one-time
// peer of a token never holds routes of the overlay: the control node
// answers on ::1 of it, and each token's joiner uses the address whose
// interface identifier is the token's id. The control node keeps a token's
// one-time peer (allowed only that /128) until a while after the token
// expires, so a used or revoked token is refused by the control node itself
// rather than met with silence.
inline constexpr std::string_view kEnrolmentPrefix = "fdfd:7a6c:656e:726f::/64";
IpAddress EnrolmentControlAddress();
// The joiner's address for token `token_id` (an id that is not 16 hex
// digits, or that would give ::0 or ::1, maps to ::2).
IpAddress EnrolmentAddress(std::string_view token_id);
// A member's addresses (IPv4, then IPv6 if any).
std::vector<IpAddress> MemberAddresses(const Member& member);
// A member's allowed IPs on every other node: its subnet(s).
std::vector<Cidr> MemberAllowedIps(const Member& member);

// A node name is one lowercase DNS label: [a-z0-9-]{1,63}, not starting or
// ending with '-'. "leader" (the control node's alias) and "ns1" (the zone's
// name server, dns_zone.h) are reserved. EINVAL with a message that says what
// is wrong.
Result<void> ValidateNodeName(std::string_view name);

// Checks the parameters of an overlay: CIDRs of the right family with no host
// bits set, node prefixes that cut them (ipam.h), a DNS zone of lowercase
// labels without the final dot, non-zero ports, and no two services on one
// port of one protocol (API and DNS on TCP, DNS and probes on UDP). EINVAL.
Result<void> ValidateParams(const OverlayParams& params);

struct TokenRecord {
  enum class State { kPending, kUsed, kRevoked };
  std::string id;              // public identifier, 16 lowercase hex digits
  std::string node_name;       // the name it is for; empty = chosen at join
  crypto::PublicKey onetime_public_key;  // the pending peer's key
  Cidr subnet4;                // reserved for the joining node
  std::optional<Cidr> subnet6;
  int64_t created_at = 0;      // unix seconds
  int64_t expires_at = 0;
  State state = State::kPending;
  std::string used_by;         // member name, when used

  bool Expired(int64_t now) const { return state == State::kPending && now >= expires_at; }
};
const char* TokenStateName(TokenRecord::State state);
// 16 lowercase hex digits. EINVAL.
Result<void> ValidateTokenId(std::string_view id);

// An extra DNS name (`dns register`): an address record (A/AAAA), or a
// service record (SRV) when the name starts with '_' ("_http._tcp.web").
struct DnsRecord {
  std::string name;                   // relative to the zone, lowercase
  std::optional<IpAddress> address;   // A / AAAA
  std::string target;                 // SRV target, relative to the zone
  uint16_t port = 0;                  // SRV port
  uint64_t revision = 0;

  bool is_service() const { return !name.empty() && name[0] == '_'; }
};
// A registered name is lowercase, at most 253 characters, relative to the
// zone: host labels ([a-z0-9-], dots between; not a reserved single label) for
// an address record, or "_service._proto.host" for a service. EINVAL.
Result<void> ValidateDnsName(std::string_view name);
// A valid name, and: an address record has a specified address, no target and
// port 0; a service record has a host-name target, a port in 1..65535 and no
// address. EINVAL.
Result<void> ValidateDnsRecord(const DnsRecord& record);

// One change of the store, as nodes receive it.
struct Change {
  enum class Kind { kMemberUpsert, kMemberRemoved, kNameUpsert, kNameRemoved };
  uint64_t revision = 0;
  Kind kind = Kind::kMemberUpsert;
  std::optional<Member> member;     // kMemberUpsert
  std::optional<DnsRecord> record;  // kNameUpsert
  std::string name;                 // the member or DNS name, every kind
};
const char* ChangeKindName(Change::Kind kind);

// What a watcher gets: the changes after its revision, or, when it is too
// far behind (the log was trimmed) or ahead (the store was replaced), a
// request to resync from a full snapshot.
struct Delta {
  uint64_t revision = 0;  // the store's revision after these changes
  bool full_resync = false;
  std::vector<Change> changes;
};

}  // namespace zl::overlay
