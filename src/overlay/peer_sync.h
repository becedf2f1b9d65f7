#pragma once
// PlanPeerSync: the device configuration that makes the WireGuard peers
// match the membership (full mesh: every other member is a direct peer whose
// allowed IPs are its subnets), computed as a difference so an unchanged
// peer keeps its session and its endpoint.
//
// Endpoints: a peer's endpoint is set when the peer is new, or when the
// member's published endpoint changed since we last applied it
// (`applied_endpoints`, updated by the call). Otherwise the device keeps the
// endpoint it learnt by roaming (the last authenticated packet's source),
// which is the better one behind NAT.
//
// Pure: no I/O. Thread safety: values.

#include <map>
#include <optional>
#include <vector>

#include "base/ip.h"
#include "crypto/keys.h"
#include "device/config.h"

namespace zl::overlay {

inline constexpr uint16_t kPersistentKeepaliveSeconds = 25;

struct DesiredPeer {
  crypto::PublicKey public_key;
  std::optional<Endpoint> endpoint;
  std::vector<Cidr> allowed_ips;
  uint16_t persistent_keepalive = kPersistentKeepaliveSeconds;
};

using AppliedEndpoints = std::map<crypto::PublicKey, std::optional<Endpoint>>;

// Peers in `current` that are not desired are removed.
device::ConfigRequest PlanPeerSync(const std::vector<DesiredPeer>& desired,
                                   const device::DeviceState& current,
                                   AppliedEndpoints& applied_endpoints);

}  // namespace zl::overlay
