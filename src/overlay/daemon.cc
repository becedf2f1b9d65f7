// The node's life: start, activation of the overlay, peer sync, the ticker.
// See daemon.h and daemon_impl.h.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "base/log.h"
#include "base/thread_name.h"
#include "crypto/x25519.h"
#include "net/linux_tun.h"
#include "net/netlink.h"
#include "overlay/daemon_impl.h"
#include "overlay/model_json.h"
#include "overlay/sqlite_store.h"
#include "overlay/state_files.h"

namespace zl::overlay {

// --- helpers shared by the API files ---

HttpResponse JsonResponse(const nlohmann::json& body, int status) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump() + "\n";
  return r;
}

HttpResponse ErrorResponse(int status, const std::string& message) {
  return JsonResponse(nlohmann::json{{"error", message}}, status);
}

HttpResponse ErrorResponse(const Error& error) {
  int status = 500;
  switch (error.code()) {
    case EINVAL: case ERANGE: case ENAMETOOLONG: status = 400; break;
    case EPERM: case EACCES: status = 403; break;
    case ENOENT: status = 404; break;
    case EEXIST: case EALREADY: case EBUSY: case EISCONN: case ENOTCONN: status = 409; break;
    case EKEYREVOKED: case EKEYEXPIRED: status = 410; break;
    case ENOSPC: status = 507; break;
    case ECONNREFUSED: case EHOSTUNREACH: case ETIMEDOUT: case ESHUTDOWN: case ENETUNREACH:
      status = 503; break;
    default: break;
  }
  return JsonResponse(nlohmann::json{{"error", error.message()}, {"errno", error.code()}}, status);
}

Result<nlohmann::json> ParseBody(const HttpRequest& request) {
  if (request.body.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(EINVAL, "the request body is not a JSON object");
  }
  return j;
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- Daemon ---

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Daemon::~Daemon() { Stop(); }
void Daemon::Stop() {
  if (impl_) impl_->Stop(/*loop_running=*/false);
}

Result<std::unique_ptr<Daemon>> Daemon::Start(net::EventLoop& loop, DaemonOptions options,
                                              const Clock& clock, crypto::Rng& rng) {
  auto impl = std::make_unique<Impl>(loop, std::move(options), clock, rng);
  if (auto started = impl->Start(); !started.ok()) {
    impl->Stop(/*loop_running=*/true);
    return started.error();
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Result<void> Daemon::Impl::Start() {
  const std::string& dir = options.state_dir;
  if (auto ok = EnsureStateDir(dir); !ok.ok()) return ok.error().Wrap("state directory");
  bool created = false;
  auto key = LoadOrCreateIdentity(dir, rng, &created);
  if (!key.ok()) return key.error();
  identity = std::move(*key);
  auto pub = crypto::DerivePublicKey(identity);
  if (!pub.ok()) return pub.error().Wrap("identity key");
  public_key = *pub;
  if (created) LogVerbose("created a new identity, public key " + public_key.ToBase64());

  auto loaded = LoadNodeState(dir);
  if (!loaded.ok()) {
    return loaded.error().Wrap("refusing to start: the node state is unusable (move it away "
                               "to start afresh)");
  }
  if (loaded->has_value() && (*loaded)->self.public_key != public_key) {
    return MakeError(EINVAL, "refusing to start: " + NodeStatePath(dir) +
                                 " belongs to another identity than " + IdentityPath(dir));
  }

  auto tun = net::CreateLinuxTun(options.interface);
  if (!tun.ok()) return tun.error().Wrap("create interface " + options.interface);
  device::DeviceOptions device_options;
  device_options.on_tun_gone = [this] {
    LogError("interface " + options.interface + " was deleted, shutting down");
    loop.Stop();
  };
  auto dev = device::Device::Create(loop, std::move(*tun), clock, rng, std::move(device_options));
  if (!dev.ok()) return dev.error().Wrap("start the WireGuard device");
  device = std::move(*dev);
  {
    device::ConfigRequest config;
    config.private_key = identity;
    config.listen_port = options.listen_port;
    if (auto applied = device->Apply(config); !applied.ok()) {
      return applied.error().Wrap("listen on UDP port " + std::to_string(options.listen_port));
    }
  }

  {
    std::lock_guard lock(mu);
    if (loaded->has_value()) {
      state = std::move(**loaded);
      if (state->role == NodeState::Role::kControl) {
        SqliteStoreOptions store_options;
        store_options.create = false;  // a lost store is an error, not a new overlay
        auto opened = OpenSqliteStore(StorePath(dir), store_options);
        if (!opened.ok()) return opened.error().Wrap("refusing to start: the store");
        store = std::move(*opened);
        if (auto consistent = store->CheckConsistency(); !consistent.ok()) {
          return consistent.error().Wrap("refusing to start: the store " + StorePath(dir));
        }
      }
      if (auto active = ActivateLocked(); !active.ok()) return active.error();
      events.Append("started", {{"name", state->self.name}, {"role", RoleName(state->role)}});
    }
  }

  auto listener = ListenUnix(ControlSocketPath(dir));
  if (!listener.ok()) return listener.error().Wrap("local API " + ControlSocketPath(dir));
  auto api = HttpServer::Start(std::move(*listener), [this](const HttpRequest& r,
                                                            std::shared_ptr<HttpResponder> w) {
    HandleLocal(r, std::move(w));
  });
  if (!api.ok()) return api.error().Wrap("local API");
  local_api = std::move(*api);

  if (options.metrics_listen) {
    auto ml = ListenTcp(*options.metrics_listen);
    if (!ml.ok()) return ml.error().Wrap("metrics listener " + options.metrics_listen->ToString());
    auto ms = HttpServer::Start(std::move(*ml), [this](const HttpRequest& r,
                                                       std::shared_ptr<HttpResponder> w) {
      if (r.path != "/metrics") {
        w->Respond(ErrorResponse(404, "only /metrics is served here"));
        return;
      }
      HttpResponse resp;
      resp.content_type = "text/plain; version=0.0.4";
      resp.body = MetricsText();
      w->Respond(std::move(resp));
    });
    if (!ms.ok()) return ms.error().Wrap("metrics server");
    metrics_server = std::move(*ms);
  }

  ticker = std::thread([this] {
    SetThreadName("zl-ticker");
    TickerLoop();
  });
  LogVerbose(fmt::format("daemon ready: interface {}, UDP port {}, local API {}",
                         options.interface, options.listen_port, ControlSocketPath(dir)));
  return Ok();
}

void Daemon::Impl::Stop(bool loop_running) {
  if (stopping.exchange(true)) return;
  // With the loop stopped, close the device first: a thread waiting on a
  // device call is released (ESHUTDOWN) instead of waiting for a loop that
  // no longer runs.
  if (!loop_running && device) device->Close();
  cv.notify_all();
  StopWatch();
  if (ticker.joinable()) ticker.join();
  if (local_api) local_api->Stop();
  if (metrics_server) metrics_server->Stop();
  {
    std::vector<Task> running;
    {
      std::lock_guard lock(tasks_mu);
      running.swap(tasks);
    }
    for (auto& t : running) {
      if (t.thread.joinable()) t.thread.join();
    }
  }
  {
    std::lock_guard lock(mu);
    if (state_dirty) {
      if (auto saved = SaveStateLocked(); !saved.ok()) LogError(saved.error().message());
    }
  }
  HttpResponse shutting_down = ErrorResponse(503, "the daemon is shutting down");
  watchers.AnswerAll(shutting_down);
  event_waiters.AnswerAll(shutting_down);
  {
    std::lock_guard lock(mu);
    if (peer_api) peer_api->Stop();
    if (enrol_api) enrol_api->Stop();
    for (auto& dns : dns_servers) dns->Stop();
    if (probe_responder) probe_responder->Stop();
  }
  if (loop_running && device) {
    // The device belongs to the running loop: close it there.
    std::promise<void> closed;
    loop.Post([&] {
      device->Close();
      closed.set_value();
    });
    closed.get_future().wait();
  }
}

device::ControlApi& Daemon::device_api() { return *impl_->device; }

// --- the overlay on this node ---

Result<void> Daemon::Impl::SetOverlayAddresses(bool add) {
  auto index = net::InterfaceIndex(options.interface);
  if (!index.ok()) return index.error();
  const NodeState& s = *state;
  std::vector<std::pair<IpAddress, uint8_t>> addrs;
  addrs.emplace_back(NodeAddress(s.self.subnet4), s.params.cidr4.prefix_len());
  if (s.self.subnet6 && s.params.cidr6) {
    addrs.emplace_back(NodeAddress(*s.self.subnet6), s.params.cidr6->prefix_len());
  }
  if (s.role == NodeState::Role::kControl) {
    addrs.emplace_back(EnrolmentControlAddress(), 64);
  }
  for (const auto& [address, prefix] : addrs) {
    auto r = add ? net::AddAddress(*index, address, prefix)
                 : net::RemoveAddress(*index, address, prefix);
    if (!r.ok()) return r.error();
  }
  if (add) return net::SetLinkUp(*index, true);
  return Ok();
}

Result<void> Daemon::Impl::ActivateLocked() {
  NodeState& s = *state;
  IndexMembersLocked();
  if (auto up = SetOverlayAddresses(true); !up.ok()) return up.error().Wrap("overlay address");
  const IpAddress self_address = NodeAddress(s.self.subnet4);
  // DNS on every overlay address of the node (IPv4, and IPv6 when the
  // overlay has an IPv6 range).
  if (dns_servers.empty()) {
    for (const IpAddress& address : MemberAddresses(s.self)) {
      auto dns = DnsServer::Start(Endpoint(address, s.params.dns_port), dns_zone);
      if (!dns.ok()) {
        return dns.error().Wrap(fmt::format("DNS server on {}",
                                            Endpoint(address, s.params.dns_port).ToString()));
      }
      dns_servers.push_back(std::move(*dns));
    }
  }
  if (!probe_responder) {
    auto probes = ProbeResponder::Start(Endpoint(self_address, s.params.probe_port));
    if (!probes.ok()) return probes.error().Wrap("health probe responder");
    probe_responder = std::move(*probes);
  }
  if (s.role == NodeState::Role::kControl) {
    if (auto api = StartPeerApiLocked(); !api.ok()) return api.error();
    if (options.endpoint && s.self.endpoint != options.endpoint) {
      auto updated = store->UpdateEndpoint(s.self.name, options.endpoint);
      if (!updated.ok()) return updated.error().Wrap("publish the new endpoint");
    }
    // The control node's view comes from its store, whole.
    auto snap = store->Snapshot();
    if (!snap.ok()) return snap.error().Wrap("read the store");
    UpdateMembershipLocked(snap->revision, std::move(snap->members), std::move(snap->names));
    if (!state) return MakeError(EIO, "the store no longer lists this node");
  } else {
    StartWatchLocked();
  }
  auto applied = ApplyMembershipLocked();
  RebuildDnsLocked();
  return applied;
}

void Daemon::Impl::DeactivateLocked(const std::string& why, bool voluntary) {
  if (!state) return;
  const std::string name = state->self.name;
  for (auto* api : {&peer_api, &enrol_api}) {
    if (*api) {
      (*api)->Stop();
      api->reset();
    }
  }
  for (auto& dns : dns_servers) dns->Stop();
  dns_servers.clear();
  if (probe_responder) {
    probe_responder->Stop();
    probe_responder.reset();
  }
  if (auto down = SetOverlayAddresses(false); !down.ok()) {
    LogError("leaving: " + down.error().message());
  }
  device::ConfigRequest clear;
  clear.replace_peers = true;
  if (auto r = device->Apply(clear); !r.ok()) LogError("leaving: " + r.error().message());
  applied_endpoints.clear();
  configured.clear();
  peer_info.clear();
  departing.clear();
  member_by_key.clear();
  member_by_subnet.clear();
  state_dirty = false;
  dns_dirty = false;
  store.reset();
  state.reset();
  dns_zone.Replace(DnsZoneData{});
  if (auto removed = RemoveNodeState(options.state_dir); !removed.ok()) {
    LogError("leaving: " + removed.error().message());
  }
  events.Append("left", {{"name", name}, {"reason", why}});
  Log(voluntary ? LogLevel::kVerbose : LogLevel::kError,
      "node " + name + " is no longer in an overlay: " + why);
}

const Member* Daemon::Impl::FindMemberLocked(const crypto::PublicKey& key) const {
  if (!state) return nullptr;
  auto it = member_by_key.find(key);
  return it == member_by_key.end() ? nullptr : MemberByNameLocked(it->second);
}

const Member* Daemon::Impl::MemberOwningLocked(const IpAddress& address) const {
  if (!state) return nullptr;
  const uint8_t prefix = address.is_v4() ? state->params.node_prefix4 : state->params.node_prefix6;
  if (prefix > address.size() * 8) return nullptr;
  auto it = member_by_subnet.find(Cidr(address, prefix).Masked().address());
  return it == member_by_subnet.end() ? nullptr : MemberByNameLocked(it->second);
}

const Member* Daemon::Impl::MemberByNameLocked(const std::string& name) const {
  auto it = std::lower_bound(state->members.begin(), state->members.end(), name,
                             [](const Member& m, const std::string& n) { return m.name < n; });
  return it != state->members.end() && it->name == name ? &*it : nullptr;
}

void Daemon::Impl::IndexMemberLocked(const Member& m, bool add) {
  if (add) {
    member_by_key[m.public_key] = m.name;
    member_by_subnet[m.subnet4.Masked().address()] = m.name;
    if (m.subnet6) member_by_subnet[m.subnet6->Masked().address()] = m.name;
  } else {
    member_by_key.erase(m.public_key);
    member_by_subnet.erase(m.subnet4.Masked().address());
    if (m.subnet6) member_by_subnet.erase(m.subnet6->Masked().address());
  }
}

void Daemon::Impl::IndexMembersLocked() {
  member_by_key.clear();
  member_by_subnet.clear();
  if (!state) return;
  for (const Member& m : state->members) IndexMemberLocked(m, true);
}

DesiredPeer Daemon::Impl::DesiredForMember(const Member& m) const {
  DesiredPeer p;
  p.public_key = m.public_key;
  p.endpoint = m.endpoint;
  p.allowed_ips = MemberAllowedIps(m);
  return p;
}

DesiredPeer Daemon::Impl::DesiredForToken(const TokenRecord& t) {
  DesiredPeer p;
  p.public_key = t.onetime_public_key;
  p.allowed_ips.push_back(Cidr(EnrolmentAddress(t.id), 128));
  p.persistent_keepalive = 0;
  return p;
}

std::vector<DesiredPeer> Daemon::Impl::DesiredPeersLocked() {
  std::vector<DesiredPeer> desired;
  if (!state) return desired;
  for (const Member& m : state->members) {
    if (m.public_key != public_key) desired.push_back(DesiredForMember(m));
  }
  if (state->role != NodeState::Role::kControl || !store) return desired;
  for (const Departing& d : departing) {
    DesiredPeer p;
    p.public_key = d.key;
    p.allowed_ips = d.allowed_ips;
    p.persistent_keepalive = 0;
    desired.push_back(std::move(p));
  }
  // Every token's one-time peer, whatever its state, until a while after it
  // expires: allowed only the token's enrolment address, so it can reach the
  // enrolment API and nothing else, and hear why it is refused.
  auto tokens = store->Tokens();
  if (tokens.ok()) {
    const int64_t now = UnixNow();
    for (const TokenRecord& t : *tokens) {
      if (now < t.expires_at + kEnrolmentGraceSeconds) desired.push_back(DesiredForToken(t));
    }
  } else {
    LogError("store: " + tokens.error().message());
  }
  return desired;
}

Result<void> Daemon::Impl::ApplyMembershipLocked() {
  if (!state) return Ok();
  const std::vector<DesiredPeer> desired = DesiredPeersLocked();
  auto current = device->Snapshot();
  if (!current.ok()) return current.error().Wrap("read the device");
  device::ConfigRequest plan = PlanPeerSync(desired, *current, applied_endpoints);
  if (!plan.peers.empty()) {
    if (auto applied = device->Apply(plan); !applied.ok()) {
      return applied.error().Wrap("configure peers");
    }
  }
  configured.clear();
  for (const DesiredPeer& p : desired) configured[p.public_key] = p;
  // Health is tracked for members only.
  std::erase_if(peer_info, [&](const auto& kv) { return member_by_key.count(kv.first) == 0; });
  for (const Member& m : state->members) {
    if (m.public_key != public_key) peer_info.try_emplace(m.public_key);
  }
  dns_dirty = true;
  return Ok();
}

Result<void> Daemon::Impl::ApplyPeerDeltaLocked(const std::vector<DesiredPeer>& upserts,
                                                const std::vector<crypto::PublicKey>& removals) {
  // What we configured for just these peers stands in for the device's
  // state, so a change costs what it touches, not the size of the overlay.
  device::DeviceState current;
  auto add_current = [&](const crypto::PublicKey& key) {
    auto it = configured.find(key);
    if (it == configured.end()) return;
    device::PeerState p;
    p.public_key = key;
    p.allowed_ips = it->second.allowed_ips;
    p.persistent_keepalive_interval = it->second.persistent_keepalive;
    current.peers.push_back(std::move(p));
  };
  for (const DesiredPeer& p : upserts) add_current(p.public_key);
  for (const crypto::PublicKey& key : removals) add_current(key);
  device::ConfigRequest plan = PlanPeerSync(upserts, current, applied_endpoints);
  for (const DesiredPeer& p : upserts) configured[p.public_key] = p;
  for (const crypto::PublicKey& key : removals) configured.erase(key);
  if (plan.peers.empty()) return Ok();
  auto applied = device->Apply(plan);
  if (!applied.ok()) return applied.error().Wrap("configure peers");
  return Ok();
}

void Daemon::Impl::RebuildDnsLocked() {
  dns_dirty = false;
  if (!state) return;
  const MonoTime t0 = clock.Read().mono;
  DnsZoneData zone;
  zone.zone = state->params.dns_zone;
  zone.members = state->members;
  zone.names = state->names;
  zone.reverse_ranges.push_back(state->params.cidr4);
  if (state->params.cidr6) zone.reverse_ranges.push_back(*state->params.cidr6);
  zone.ns_addresses = MemberAddresses(state->self);
  zone.serial = static_cast<uint32_t>(std::max<uint64_t>(state->revision, 1));
  dns_zone.Replace(std::move(zone));
  last_dns_rebuild_cost = clock.Read().mono - t0;
}

bool Daemon::Impl::AdoptMembershipLocked(bool reindex) {
  if (reindex) IndexMembersLocked();
  const Member* self = FindMemberLocked(public_key);
  if (self == nullptr) {
    DeactivateLocked("this node was removed from the overlay");
    return false;
  }
  state->self = *self;
  state_dirty = true;
  // A small zone follows at once (names and membership agree at every
  // moment); a large one is rebuilt by the ticker, a few times a second.
  if (last_dns_rebuild_cost < std::chrono::milliseconds(2)) {
    RebuildDnsLocked();
  } else {
    dns_dirty = true;
  }
  return true;
}

void Daemon::Impl::UpdateMembershipLocked(uint64_t revision, std::vector<Member> members,
                                          std::vector<DnsRecord> names) {
  // A full replacement (resync): the events come from comparing both views.
  std::map<std::string, const Member*> before;
  for (const Member& m : state->members) before[m.name] = &m;
  std::map<std::string, const Member*> after;
  for (const Member& m : members) after[m.name] = &m;
  for (const auto& [name, m] : after) {
    auto it = before.find(name);
    if (it == before.end()) {
      events.Append("member-joined", ToJson(*m));
    } else if (it->second->endpoint != m->endpoint || it->second->public_key != m->public_key) {
      events.Append("member-updated", ToJson(*m));
    }
  }
  for (const auto& [name, m] : before) {
    if (after.count(name) == 0) events.Append("member-left", {{"name", name}});
  }
  std::map<std::string, std::string> names_before;
  for (const DnsRecord& r : state->names) names_before[r.name] = ToJson(r).dump();
  std::map<std::string, std::string> names_after;
  for (const DnsRecord& r : names) names_after[r.name] = ToJson(r).dump();
  for (const auto& [name, text] : names_after) {
    auto it = names_before.find(name);
    if (it == names_before.end() || it->second != text) {
      events.Append("name-registered", nlohmann::json::parse(text));
    }
  }
  for (const auto& [name, text] : names_before) {
    if (names_after.count(name) == 0) events.Append("name-removed", {{"name", name}});
  }

  state->revision = revision;
  state->members = std::move(members);
  state->names = std::move(names);
  if (!AdoptMembershipLocked(/*reindex=*/true)) return;
  if (auto applied = ApplyMembershipLocked(); !applied.ok()) {
    LogError("applying the membership: " + applied.error().message());
  }
}

void Daemon::Impl::ApplyChangesLocked(uint64_t revision, const std::vector<Change>& changes) {
  std::vector<Member>& members = state->members;
  std::vector<DnsRecord>& names = state->names;
  std::vector<DesiredPeer> upserts;
  std::vector<crypto::PublicKey> removals;
  auto by_name = [](const auto& a, const std::string& name) { return a.name < name; };
  std::set<crypto::PublicKey> kept_departing;
  for (const Departing& d : departing) kept_departing.insert(d.key);
  for (const Change& c : changes) {
    switch (c.kind) {
      case Change::Kind::kMemberUpsert: {
        if (!c.member) break;
        auto it = std::lower_bound(members.begin(), members.end(), c.name, by_name);
        if (it != members.end() && it->name == c.name) {
          if (it->public_key != c.member->public_key) removals.push_back(it->public_key);
          if (it->endpoint != c.member->endpoint || it->public_key != c.member->public_key) {
            events.Append("member-updated", ToJson(*c.member));
          }
          IndexMemberLocked(*it, false);
          *it = *c.member;
        } else {
          members.insert(it, *c.member);
          events.Append("member-joined", ToJson(*c.member));
        }
        IndexMemberLocked(*c.member, true);
        if (c.member->public_key != public_key) upserts.push_back(DesiredForMember(*c.member));
        break;
      }
      case Change::Kind::kMemberRemoved: {
        auto it = std::lower_bound(members.begin(), members.end(), c.name, by_name);
        if (it == members.end() || it->name != c.name) break;
        if (kept_departing.count(it->public_key) == 0) removals.push_back(it->public_key);
        IndexMemberLocked(*it, false);
        members.erase(it);
        events.Append("member-left", {{"name", c.name}});
        break;
      }
      case Change::Kind::kNameUpsert: {
        if (!c.record) break;
        auto it = std::lower_bound(names.begin(), names.end(), c.name, by_name);
        if (it != names.end() && it->name == c.name) {
          *it = *c.record;
        } else {
          names.insert(it, *c.record);
        }
        events.Append("name-registered", ToJson(*c.record));
        break;
      }
      case Change::Kind::kNameRemoved: {
        auto it = std::lower_bound(names.begin(), names.end(), c.name, by_name);
        if (it == names.end() || it->name != c.name) break;
        names.erase(it);
        events.Append("name-removed", {{"name", c.name}});
        break;
      }
    }
  }
  state->revision = revision;
  if (!AdoptMembershipLocked(/*reindex=*/false)) return;
  for (const crypto::PublicKey& key : removals) peer_info.erase(key);
  for (const DesiredPeer& p : upserts) peer_info.try_emplace(p.public_key);
  // A key that left and came back in the same batch stays.
  std::erase_if(removals, [&](const crypto::PublicKey& k) { return member_by_key.count(k) != 0; });
  if (auto applied = ApplyPeerDeltaLocked(upserts, removals); !applied.ok()) {
    LogError("applying the membership: " + applied.error().message());
  }
}

Result<void> Daemon::Impl::SaveStateLocked() {
  state_dirty = false;
  if (!state) return Ok();
  if (state->role == NodeState::Role::kControl) {
    // The store holds the membership; node.json only says who we are.
    NodeState slim = *state;
    slim.members = {slim.self};
    slim.names.clear();
    slim.revision = 0;
    return SaveNodeState(options.state_dir, slim);
  }
  return SaveNodeState(options.state_dir, *state);
}

// --- the ticker: timers and health ---

void Daemon::Impl::TickerLoop() {
  MonoTime next_health = clock.Read().mono;
  while (!stopping) {
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, kTickPeriod, [this] { return stopping.load(); });
      if (stopping) return;
      const MonoTime tick = clock.Read().mono;
      if (state && state->role == NodeState::Role::kControl) ControlTickLocked(tick);
      if (state && tick >= next_full_sync) {
        // Catches what the incremental path cannot see: expired tokens,
        // a peer changed behind our back with wg(8).
        next_full_sync = tick + kFullSyncPeriod;
        if (auto applied = ApplyMembershipLocked(); !applied.ok()) {
          LogError("periodic sync: " + applied.error().message());
        }
      }
      if (dns_dirty && tick >= next_dns_rebuild) {
        // A large zone is rebuilt less often: at most a fifth of the time.
        RebuildDnsLocked();
        next_dns_rebuild = tick + 4 * last_dns_rebuild_cost;
      }
      if (state_dirty && tick >= next_state_save) {
        next_state_save = tick + kStateSavePeriod;
        if (auto saved = SaveStateLocked(); !saved.ok()) LogError(saved.error().message());
      }
    }
    const MonoTime now = clock.Read().mono;
    watchers.ExpireDue(now, [this](uint64_t since) { return WatchAnswer(since); });
    auto events_answer = [this](uint64_t since) { return EventsAnswer(since); };
    event_waiters.Wake(events.last_seq(), events_answer);
    event_waiters.ExpireDue(now, events_answer);
    if (now >= next_health) {
      next_health = now + kHealthPeriod;
      HealthRound();
    }
  }
}

void Daemon::Impl::HealthRound() {
  std::vector<crypto::PublicKey> keys;
  std::vector<Endpoint> targets;
  std::optional<IpAddress> source;
  {
    std::lock_guard lock(mu);
    if (!state) return;
    source = NodeAddress(state->self.subnet4);
    // A rotating window of at most kMaxProbesPerRound peers per round.
    const size_t n = state->members.size();
    const size_t count = std::min(n, kMaxProbesPerRound + 1);
    for (size_t i = 0; i < count; ++i) {
      const Member& m = state->members[(probe_cursor + i) % n];
      if (m.public_key == public_key) continue;
      keys.push_back(m.public_key);
      targets.emplace_back(NodeAddress(m.subnet4), state->params.probe_port);
    }
    probe_cursor = n == 0 ? 0 : (probe_cursor + count) % n;
  }
  if (targets.empty()) return;
  auto probed = ProbeAll(targets, source, kProbeTimeout);
  auto device_state = device->Snapshot();
  if (!device_state.ok()) return;  // shutting down
  const WallTime wall = clock.Read().wall;
  const MonoTime now = clock.Read().mono;
  std::lock_guard lock(mu);
  if (!state) return;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto info = peer_info.find(keys[i]);
    if (info == peer_info.end()) continue;  // left meanwhile
    PeerObservation obs;
    for (const auto& p : device_state->peers) {
      if (p.public_key != keys[i]) continue;
      if (p.last_handshake) obs.handshake_age = wall - *p.last_handshake;
      obs.rx_bytes = p.rx_bytes;
      obs.tx_bytes = p.tx_bytes;
    }
    if (probed.ok() && i < probed->size()) {
      obs.probe_ok = (*probed)[i].ok;
      obs.probe_rtt = (*probed)[i].rtt;
      if ((*probed)[i].rtt) info->second.rtt = (*probed)[i].rtt;
    }
    const Health before = info->second.health.state();
    const bool changed = info->second.health.Observe(obs, now);
    const Member* m = FindMemberLocked(keys[i]);
    // Probes tell a member early that its control node is gone; the watch
    // itself is left alone (TCP keepalive ends it if the node really died),
    // so probes that fail for another reason never stall the membership.
    if (m != nullptr && m->control && state->role == NodeState::Role::kMember &&
        info->second.health.consecutive_failed_probes() >= 2) {
      SetControlReachableLocked(false, "it does not answer health probes");
    }
    if (changed) {
      events.Append("peer-health", {{"name", m != nullptr ? m->name : keys[i].ToBase64()},
                                    {"from", HealthName(before)},
                                    {"to", HealthName(info->second.health.state())}});
    }
  }
}

}  // namespace zl::overlay
