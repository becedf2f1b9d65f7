// The control node: init, tokens, enrolment, removal, names, and the peer
// API that members reach through the tunnel (DESIGN.md §5).

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>

#include "base/log.h"
#include "crypto/x25519.h"
#include "net/netlink.h"
#include "overlay/daemon_impl.h"
#include "overlay/model_json.h"
#include "overlay/sqlite_store.h"
#include "overlay/state_files.h"

namespace zl::overlay {
namespace {

constexpr int64_t kDefaultTokenTtl = 3600;
constexpr int64_t kMaxTokenTtl = 30 * 24 * 3600;

Error NotControl() {
  return MakeError(EPERM, "this node is not the control node of its overlay; run this on the "
                          "control node");
}

Error NotInOverlay() {
  return MakeError(ENOTCONN, "this node is not in an overlay yet (run `init` or `join`)");
}

template <typename T>
Result<T> Field(const nlohmann::json& j, const char* key, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return MakeError(EINVAL, std::string("missing field \"") + key + "\"");
    return T{};
  }
  if constexpr (std::is_same_v<T, std::string>) {
    if (!j[key].is_string()) return MakeError(EINVAL, std::string("\"") + key + "\" must be a string");
    return j[key].get<std::string>();
  } else {
    if (!j[key].is_number_integer()) {
      return MakeError(EINVAL, std::string("\"") + key + "\" must be an integer");
    }
    return j[key].get<T>();
  }
}

}  // namespace

Result<nlohmann::json> Daemon::Impl::Init(const nlohmann::json& body) {
  auto name = Field<std::string>(body, "name", true);
  if (!name.ok()) return name.error();
  if (auto valid = ValidateNodeName(*name); !valid.ok()) return valid.error();
  auto cidr_text = Field<std::string>(body, "cidr", true);
  if (!cidr_text.ok()) return cidr_text.error();
  OverlayParams params;
  auto cidr = Cidr::Parse(*cidr_text);
  if (!cidr.ok() || !cidr->address().is_v4()) {
    return MakeError(EINVAL, "--cidr must be an IPv4 prefix such as 10.200.0.0/16, not \"" +
                                 *cidr_text + "\"");
  }
  params.cidr4 = cidr->Masked();
  auto cidr6_text = Field<std::string>(body, "cidr6", false);
  if (!cidr6_text.ok()) return cidr6_text.error();
  if (!cidr6_text->empty()) {
    auto c6 = Cidr::Parse(*cidr6_text);
    if (!c6.ok() || !c6->address().is_v6()) {
      return MakeError(EINVAL, "--cidr6 must be an IPv6 prefix such as fd42:0:0::/48, not \"" +
                                   *cidr6_text + "\"");
    }
    params.cidr6 = c6->Masked();
  }
  auto prefix4 = Field<int>(body, "node_prefix", false);
  if (!prefix4.ok()) return prefix4.error();
  if (*prefix4 != 0) {
    if (*prefix4 <= params.cidr4.prefix_len() || *prefix4 > 30) {
      return MakeError(EINVAL, fmt::format("--node-prefix must be longer than the overlay's /{} "
                                           "and at most 30",
                                           params.cidr4.prefix_len()));
    }
    params.node_prefix4 = uint8_t(*prefix4);
  }
  if (params.node_prefix4 <= params.cidr4.prefix_len()) {
    return MakeError(EINVAL, fmt::format("the overlay {} is too small for /{} node subnets; "
                                         "choose a larger --cidr or a longer --node-prefix",
                                         params.cidr4.ToString(), params.node_prefix4));
  }
  if (params.cidr6 && params.node_prefix6 <= params.cidr6->prefix_len()) {
    return MakeError(EINVAL, fmt::format("the IPv6 overlay {} is too small for /{} node subnets",
                                         params.cidr6->ToString(), params.node_prefix6));
  }
  auto zone = Field<std::string>(body, "dns_zone", false);
  if (!zone.ok()) return zone.error();
  if (!zone->empty()) params.dns_zone = *zone;
  auto dns_port = Field<int>(body, "dns_port", false);
  if (!dns_port.ok()) return dns_port.error();
  if (*dns_port < 0 || *dns_port > 65535) return MakeError(EINVAL, "--dns-port out of range");
  if (*dns_port != 0) params.dns_port = uint16_t(*dns_port);
  auto endpoint_text = Field<std::string>(body, "endpoint", false);
  if (!endpoint_text.ok()) return endpoint_text.error();
  auto local_endpoint = LocalEndpoint(*endpoint_text);
  if (!local_endpoint.ok()) return local_endpoint.error();
  std::optional<Endpoint> endpoint = *local_endpoint;

  std::lock_guard lock(mu);
  if (state) {
    return MakeError(EEXIST, fmt::format("this node is already {} of the overlay {} ({}); "
                                         "`leave` first",
                                         state->self.name, state->params.dns_zone,
                                         RoleName(state->role)));
  }
  const std::string path = StorePath(options.state_dir);
  if (::access(path.c_str(), F_OK) == 0) {
    return MakeError(EEXIST, path + " already exists although this node is in no overlay; move "
                                    "it away to initialise a new overlay");
  }
  auto opened = OpenSqliteStore(path);
  if (!opened.ok()) return opened.error().Wrap("create the store");
  auto member = (*opened)->Initialize(params, *name, public_key, endpoint, UnixNow());
  auto snap = member.ok() ? (*opened)->Snapshot() : Result<StoreSnapshot>(member.error());
  if (!snap.ok()) {
    opened->reset();
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
    return snap.error().Wrap("initialise the store");
  }
  store = std::move(*opened);
  NodeState s;
  s.role = NodeState::Role::kControl;
  s.params = params;
  s.self = *member;
  s.control_public_key = public_key;
  s.control_endpoints = {*endpoint};
  s.control_address = NodeAddress(member->subnet4);
  s.revision = snap->revision;
  s.members = snap->members;
  s.names = snap->names;
  state = std::move(s);
  if (auto saved = SaveStateLocked(); !saved.ok()) {
    DeactivateLocked("init failed");
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
    return saved.error();
  }
  if (auto active = ActivateLocked(); !active.ok()) {
    DeactivateLocked("init failed: " + active.error().message());
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
    return active.error();
  }
  events.Append("initialised", {{"name", *name}, {"cidr", params.cidr4.ToString()}});
  return nlohmann::json{{"name", *name},
                        {"address", NodeAddress(member->subnet4).ToString()},
                        {"subnet", member->subnet4.ToString()},
                        {"endpoint", endpoint->ToString()},
                        {"dns_zone", params.dns_zone}};
}

Result<nlohmann::json> Daemon::Impl::CreateToken(const nlohmann::json& body) {
  auto name = Field<std::string>(body, "name", false);
  if (!name.ok()) return name.error();
  if (!name->empty()) {
    if (auto valid = ValidateNodeName(*name); !valid.ok()) return valid.error();
  }
  auto ttl = Field<int64_t>(body, "ttl_seconds", false);
  if (!ttl.ok()) return ttl.error();
  if (*ttl == 0) *ttl = kDefaultTokenTtl;
  if (*ttl < 1 || *ttl > kMaxTokenTtl) {
    return MakeError(EINVAL, "--ttl must be between 1s and 30 days");
  }
  std::lock_guard lock(mu);
  if (!state) return NotInOverlay();
  if (state->role != NodeState::Role::kControl || !store) return NotControl();
  if (state->control_endpoints.empty()) {
    return MakeError(EINVAL, "the control node has no endpoint; restart the daemon with "
                             "--endpoint HOST:PORT");
  }
  crypto::PrivateKey onetime = crypto::GeneratePrivateKey(rng);
  auto onetime_public = crypto::DerivePublicKey(onetime);
  if (!onetime_public.ok()) return onetime_public.error();
  const int64_t now = UnixNow();
  auto record = store->CreateToken(NewTokenId(), *name, *onetime_public, now, now + *ttl);
  if (!record.ok()) return record.error();
  if (auto applied = ApplyPeerDeltaLocked({DesiredForToken(*record)}, {}); !applied.ok()) {
    (void)store->RevokeToken(record->id);
    return applied.error();
  }
  JoinToken token;
  token.id = record->id;
  token.node_name = record->node_name;
  token.control_public_key = public_key;
  token.control_endpoints = state->control_endpoints;
  token.control_address = state->control_address;
  token.params = state->params;
  token.subnet4 = record->subnet4;
  token.subnet6 = record->subnet6;
  token.onetime_private_key = std::move(onetime);
  token.expires_at = record->expires_at;
  crypto::SecretString text = EncodeJoinToken(token);
  events.Append("token-created", {{"id", record->id}, {"subnet", record->subnet4.ToString()},
                                  {"expires_at", record->expires_at}});
  LogVerbose("token " + record->id + " created for subnet " + record->subnet4.ToString());
  nlohmann::json out = ToJson(*record);
  out["token"] = std::string(text.view());
  return out;
}

Result<nlohmann::json> Daemon::Impl::ListTokens() {
  std::lock_guard lock(mu);
  if (!state) return NotInOverlay();
  if (state->role != NodeState::Role::kControl || !store) return NotControl();
  auto tokens = store->Tokens();
  if (!tokens.ok()) return tokens.error();
  nlohmann::json list = nlohmann::json::array();
  const int64_t now = UnixNow();
  for (const TokenRecord& t : *tokens) {
    nlohmann::json j = ToJson(t);
    j["expired"] = t.Expired(now);
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"tokens", list}};
}

Result<nlohmann::json> Daemon::Impl::RevokeToken(const std::string& id) {
  std::lock_guard lock(mu);
  if (!state) return NotInOverlay();
  if (state->role != NodeState::Role::kControl || !store) return NotControl();
  auto revoked = store->RevokeToken(id);
  if (!revoked.ok()) return revoked.error();
  // Its one-time peer stays until a while after expiry, to hear "revoked".
  events.Append("token-revoked", {{"id", id}});
  return ToJson(*revoked);
}

Result<nlohmann::json> Daemon::Impl::RemoveNode(const std::string& name) {
  Member removed;
  {
    std::lock_guard lock(mu);
    if (!state) return NotInOverlay();
    if (state->role != NodeState::Role::kControl || !store) return NotControl();
    if (name == state->self.name) {
      return MakeError(EINVAL, "the control node cannot remove itself");
    }
    auto r = store->RemoveMember(name);
    if (!r.ok()) return r.error();
    removed = *r;
    // Keep routing to it a moment, so the watch answer that tells it goes out.
    departing.push_back(
        Departing{removed.public_key, MemberAllowedIps(removed), clock.Read().mono + kRemovalGrace});
    OnStoreChanged();
  }
  auto rev = store->Revision();
  if (rev.ok()) watchers.Wake(*rev, [this](uint64_t since) { return WatchAnswer(since); });
  events.Append("node-removed", {{"name", name}});
  return nlohmann::json{{"removed", name}};
}

Result<DnsRecord> Daemon::Impl::RegisterNameOnControl(const DnsRecord& record, const Member*) {
  Result<DnsRecord> stored = MakeError(EIO, "unreachable");
  {
    std::lock_guard lock(mu);
    if (!store) return NotControl();
    stored = store->RegisterName(record);
    if (!stored.ok()) return stored;
    OnStoreChanged();
  }
  auto rev = store->Revision();
  if (rev.ok()) watchers.Wake(*rev, [this](uint64_t since) { return WatchAnswer(since); });
  return stored;
}

Result<void> Daemon::Impl::UnregisterNameOnControl(const std::string& name) {
  {
    std::lock_guard lock(mu);
    if (!store) return NotControl();
    if (auto r = store->UnregisterName(name); !r.ok()) return r;
    OnStoreChanged();
  }
  auto rev = store->Revision();
  if (rev.ok()) watchers.Wake(*rev, [this](uint64_t since) { return WatchAnswer(since); });
  return Ok();
}

void Daemon::Impl::OnStoreChanged() {
  // The cached view follows the store by its own change log, as members do.
  auto delta = store->ChangesSince(state->revision);
  if (delta.ok() && !delta->full_resync) {
    if (!delta->changes.empty()) ApplyChangesLocked(delta->revision, delta->changes);
    return;
  }
  auto snap = store->Snapshot();
  if (!snap.ok()) {
    LogError("store: " + snap.error().message());
    return;
  }
  UpdateMembershipLocked(snap->revision, std::move(snap->members), std::move(snap->names));
}

HttpResponse Daemon::Impl::SnapshotAnswer() {
  // During a storm of joins every node that falls behind asks for the whole
  // view: it is built at most every kSnapshotReuse, and a slightly old one
  // is fine (its revision says where the watch goes on from).
  const MonoTime now = clock.Read().mono;
  {
    std::lock_guard lock(snapshot_mu);
    if (snapshot_cache && now - snapshot_cache_built < kSnapshotReuse) return *snapshot_cache;
  }
  auto snap = store->Snapshot();
  if (!snap.ok()) return ErrorResponse(snap.error());
  HttpResponse answer = JsonResponse(ToJson(*snap));
  std::lock_guard lock(snapshot_mu);
  snapshot_cache = answer;
  snapshot_cache_built = now;
  return answer;
}

HttpResponse Daemon::Impl::WatchAnswer(uint64_t since) {
  Store* s = store.get();
  if (s == nullptr) return ErrorResponse(503, "this node is no longer the control node");
  auto delta = s->ChangesSince(since);
  if (!delta.ok()) return ErrorResponse(delta.error());
  return JsonResponse(ToJson(*delta));
}

void Daemon::Impl::ControlTickLocked(MonoTime now) {
  std::vector<crypto::PublicKey> gone;
  std::erase_if(departing, [&](const Departing& d) {
    if (d.due > now) return false;
    gone.push_back(d.key);
    return true;
  });
  if (gone.empty()) return;
  if (auto applied = ApplyPeerDeltaLocked({}, gone); !applied.ok()) {
    LogError("removing a departed node's peer: " + applied.error().message());
  }
}

Result<void> Daemon::Impl::StartPeerApiLocked() {
  auto serve = [this](const Endpoint& at, std::unique_ptr<HttpServer>& server) -> Result<void> {
    if (server) return Ok();
    auto listener = ListenTcp(at);
    if (!listener.ok()) return listener.error().Wrap("peer API on " + at.ToString());
    auto started = HttpServer::Start(std::move(*listener), [this](const HttpRequest& r,
                                                                  std::shared_ptr<HttpResponder> w) {
      HandlePeer(r, std::move(w));
    });
    if (!started.ok()) return started.error().Wrap("peer API on " + at.ToString());
    server = std::move(*started);
    return Ok();
  };
  if (auto r = serve(Endpoint(state->control_address, state->params.api_port), peer_api); !r.ok()) {
    return r;
  }
  return serve(Endpoint(EnrolmentControlAddress(), state->params.api_port), enrol_api);
}

// The peer API. Callers are identified by the source address of their TCP
// connection: it arrives through WireGuard, which accepted it only because
// it lies in the allowed IPs of the peer that sent it, so it proves which
// member (or which pending token) is asking.
void Daemon::Impl::HandlePeer(const HttpRequest& request,
                              std::shared_ptr<HttpResponder> responder) {
  if (!request.remote) {
    responder->Respond(ErrorResponse(400, "the peer API is served over TCP only"));
    return;
  }
  const IpAddress from = request.remote->address();
  auto body = ParseBody(request);
  if (!body.ok()) {
    responder->Respond(ErrorResponse(body.error()));
    return;
  }

  if (request.method == "POST" && request.path == "/v1/enrol") {
    nlohmann::json answer;
    {
      std::lock_guard lock(mu);
      if (!store) {
        responder->Respond(ErrorResponse(503, "not the control node"));
        return;
      }
      auto id = Field<std::string>(*body, "token_id", true);
      auto name = Field<std::string>(*body, "name", true);
      auto key_text = Field<std::string>(*body, "public_key", true);
      auto endpoint_text = Field<std::string>(*body, "endpoint", false);
      for (const Result<std::string>* f : {&id, &name, &key_text, &endpoint_text}) {
        if (!f->ok()) {
          responder->Respond(ErrorResponse(f->error()));
          return;
        }
      }
      crypto::PublicKey key;
      if (key_text->size() != 44 || !Base64Decode(*key_text, MutableByteSpan(key.data(), 32)) ||
          key.IsZero()) {
        responder->Respond(ErrorResponse(400, "public_key is not a WireGuard public key"));
        return;
      }
      std::optional<Endpoint> endpoint;
      if (!endpoint_text->empty()) {
        auto e = Endpoint::Parse(*endpoint_text);
        if (!e.ok()) {
          responder->Respond(ErrorResponse(400, "endpoint: " + e.error().message()));
          return;
        }
        endpoint = *e;
      }
      auto token = store->FindToken(*id);
      if (!token.ok()) {
        responder->Respond(ErrorResponse(token.error()));
        return;
      }
      // Only the token's one-time peer may send from its enrolment address.
      if (from != EnrolmentAddress(token->id)) {
        responder->Respond(ErrorResponse(403, "enrolment must come through the token's own tunnel"));
        return;
      }
      auto member = store->RedeemToken(*id, *name, key, endpoint, UnixNow());
      if (!member.ok()) {
        responder->Respond(ErrorResponse(member.error()));
        return;
      }
      OnStoreChanged();
      // The new node learns the rest by its watch (deltas, or a snapshot):
      // the answer stays small however large the overlay is.
      answer = {{"member", ToJson(*member)},
                {"control", ToJson(state->self)},
                {"params", ToJson(state->params)}};
      LogVerbose("node " + *name + " enrolled with token " + *id);
    }
    responder->Respond(JsonResponse(answer));
    auto rev = store->Revision();
    if (rev.ok()) watchers.Wake(*rev, [this](uint64_t since) { return WatchAnswer(since); });
    return;
  }

  // Everything else is for members only.
  Member caller;
  {
    std::lock_guard lock(mu);
    const Member* m = MemberOwningLocked(from);
    if (m == nullptr || !store) {
      responder->Respond(ErrorResponse(403, "not a member of this overlay"));
      return;
    }
    caller = *m;
  }

  if (request.method == "GET" && request.path == "/v1/watch") {
    uint64_t since = 0;
    int timeout = 25;
    try {
      if (auto it = request.query.find("since"); it != request.query.end()) {
        since = std::stoull(it->second);
      }
      if (auto it = request.query.find("timeout"); it != request.query.end()) {
        timeout = std::stoi(it->second);
      }
    } catch (...) {
      responder->Respond(ErrorResponse(400, "since and timeout must be numbers"));
      return;
    }
    timeout = std::clamp(timeout, 0, int(kMaxLongPoll.count()));
    watchers.Park(since, clock.Read().mono + std::chrono::seconds(timeout), responder);
    auto rev = store->Revision();
    if (rev.ok() && *rev != since) {
      watchers.Wake(since + 1 > *rev ? since + 1 : *rev,
                    [this](uint64_t s) { return WatchAnswer(s); });
    }
    return;
  }
  if (request.method == "GET" && request.path == "/v1/snapshot") {
    responder->Respond(SnapshotAnswer());
    return;
  }
  if (request.method == "PUT" && request.path == "/v1/self") {
    auto endpoint_text = Field<std::string>(*body, "endpoint", true);
    if (!endpoint_text.ok()) {
      responder->Respond(ErrorResponse(endpoint_text.error()));
      return;
    }
    auto e = Endpoint::Parse(*endpoint_text);
    if (!e.ok()) {
      responder->Respond(ErrorResponse(400, "endpoint: " + e.error().message()));
      return;
    }
    Result<Member> updated = MakeError(EIO, "unreachable");
    {
      std::lock_guard lock(mu);
      updated = store->UpdateEndpoint(caller.name, *e);
      if (updated.ok()) OnStoreChanged();
    }
    responder->Respond(updated.ok() ? JsonResponse(ToJson(*updated))
                                    : ErrorResponse(updated.error()));
    auto rev = store->Revision();
    if (rev.ok()) watchers.Wake(*rev, [this](uint64_t s) { return WatchAnswer(s); });
    return;
  }
  if (request.method == "POST" && request.path == "/v1/leave") {
    if (caller.control) {
      responder->Respond(ErrorResponse(400, "the control node cannot leave its own overlay"));
      return;
    }
    auto removed = RemoveNode(caller.name);
    responder->Respond(removed.ok() ? JsonResponse(*removed) : ErrorResponse(removed.error()));
    return;
  }
  if (request.method == "POST" && request.path == "/v1/names") {
    auto record = DnsRecordFromJson(*body);
    if (!record.ok()) {
      responder->Respond(ErrorResponse(record.error()));
      return;
    }
    auto stored = RegisterNameOnControl(*record, &caller);
    responder->Respond(stored.ok() ? JsonResponse(ToJson(*stored)) : ErrorResponse(stored.error()));
    return;
  }
  if (request.method == "DELETE" && request.path.rfind("/v1/names/", 0) == 0) {
    auto removed = UnregisterNameOnControl(request.path.substr(10));
    responder->Respond(removed.ok() ? JsonResponse({{"removed", request.path.substr(10)}})
                                    : ErrorResponse(removed.error()));
    return;
  }
  responder->Respond(ErrorResponse(404, "no such endpoint: " + request.method + " " + request.path));
}

}  // namespace zl::overlay
