#include "overlay/peer_sync.h"

#include <algorithm>
#include <set>

namespace zl::overlay {
namespace {

std::vector<Cidr> Normalised(std::vector<Cidr> cidrs) {
  for (Cidr& c : cidrs) c = c.Masked();
  std::sort(cidrs.begin(), cidrs.end());
  cidrs.erase(std::unique(cidrs.begin(), cidrs.end()), cidrs.end());
  return cidrs;
}

}  // namespace

device::ConfigRequest PlanPeerSync(const std::vector<DesiredPeer>& desired,
                                   const device::DeviceState& current,
                                   AppliedEndpoints& applied_endpoints) {
  device::ConfigRequest request;
  std::map<crypto::PublicKey, const device::PeerState*> have;
  for (const auto& p : current.peers) have[p.public_key] = &p;

  std::set<crypto::PublicKey> wanted;
  for (const DesiredPeer& d : desired) {
    wanted.insert(d.public_key);
    const auto it = have.find(d.public_key);
    const bool is_new = it == have.end();
    device::PeerConfig change;
    change.public_key = d.public_key;
    bool changed = is_new;

    const auto applied = applied_endpoints.find(d.public_key);
    const bool endpoint_news = applied == applied_endpoints.end() || applied->second != d.endpoint;
    if (d.endpoint && (is_new || endpoint_news)) {
      change.endpoint = d.endpoint;
      changed = true;
    }
    applied_endpoints[d.public_key] = d.endpoint;

    const std::vector<Cidr> want_ips = Normalised(d.allowed_ips);
    if (is_new || Normalised(it->second->allowed_ips) != want_ips) {
      change.replace_allowed_ips = true;
      change.allowed_ips = want_ips;
      changed = true;
    }
    if (is_new || it->second->persistent_keepalive_interval != d.persistent_keepalive) {
      change.persistent_keepalive_interval = d.persistent_keepalive;
      changed = true;
    }
    if (changed) request.peers.push_back(std::move(change));
  }
  for (const auto& p : current.peers) {
    if (wanted.count(p.public_key) != 0) continue;
    device::PeerConfig removal;
    removal.public_key = p.public_key;
    removal.remove = true;
    request.peers.push_back(std::move(removal));
    applied_endpoints.erase(p.public_key);
  }
  return request;
}

}  // namespace zl::overlay
