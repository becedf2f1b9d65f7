// A member node: join through the tunnel, the watch that follows the
// control node's store, leave (DESIGN.md §5).

#include <fmt/format.h>

#include <chrono>

#include "base/log.h"
#include "net/netlink.h"
#include "overlay/daemon_impl.h"
#include "overlay/http_client.h"
#include "overlay/model_json.h"
#include "overlay/state_files.h"

namespace zl::overlay {
namespace {

// The long-poll a member asks for, and how long its HTTP call may take.
constexpr int kWatchSeconds = 25;
constexpr auto kWatchHttpTimeout = std::chrono::seconds(kWatchSeconds + 10);
constexpr auto kControlCallTimeout = std::chrono::seconds(10);
// A watch retries its connection this often while the control node is down.
constexpr auto kWatchConnectTimeout = std::chrono::seconds(2);

// An Error from an HTTP error answer of the control node.
Error ErrorFromResponse(const HttpResponse& response, const std::string& what) {
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  std::string message = "HTTP " + std::to_string(response.status);
  int code = EIO;
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("error") && j["error"].is_string()) message = j["error"].get<std::string>();
    if (j.contains("errno") && j["errno"].is_number_integer()) code = j["errno"].get<int>();
  }
  if (code == EIO) {
    if (response.status == 403) code = EPERM;
    if (response.status == 404) code = ENOENT;
    if (response.status == 409) code = EEXIST;
    if (response.status == 410) code = EKEYEXPIRED;
  }
  return MakeError(code, what + ": " + message);
}

Result<nlohmann::json> JsonOf(const HttpResponse& response, const std::string& what) {
  if (response.status >= 400) return ErrorFromResponse(response, what);
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(EPROTO, what + ": the answer is not a JSON object");
  }
  return j;
}

}  // namespace

Result<Endpoint> Daemon::Impl::LocalEndpoint(const std::string& given) {
  if (!given.empty()) {
    auto e = Endpoint::Parse(given);
    if (!e.ok()) return MakeError(EINVAL, "--endpoint: " + e.error().message());
    return *e;
  }
  if (options.endpoint) return *options.endpoint;
  auto source = net::DefaultRouteSource();
  if (!source.ok()) {
    return MakeError(EINVAL, "cannot tell this node's address from the default route (" +
                                 source.error().message() + "); give --endpoint HOST:PORT");
  }
  return Endpoint(*source, device->listen_port());
}

void Daemon::Impl::RunTask(std::function<void()> task) {
  std::lock_guard lock(tasks_mu);
  std::erase_if(tasks, [](Task& t) {
    if (!t.done->load()) return false;
    t.thread.join();
    return true;
  });
  auto done = std::make_shared<std::atomic<bool>>(false);
  tasks.push_back(Task{std::thread([task = std::move(task), done] {
                         task();
                         done->store(true);
                       }),
                       done});
}

// --- join ---

void Daemon::Impl::Join(const nlohmann::json& body, std::shared_ptr<HttpResponder> responder) {
  RunTask([this, body, responder] {
    auto answer = [&]() -> Result<nlohmann::json> {
      if (!body.contains("token") || !body["token"].is_string()) {
        return MakeError(EINVAL, "missing the token");
      }
      crypto::SecretString text(body["token"].get_ref<const std::string&>());
      auto token = ParseJoinToken(text.view());
      if (!token.ok()) return token.error();
      std::string name = body.contains("name") && body["name"].is_string()
                             ? body["name"].get<std::string>()
                             : std::string();
      if (name.empty()) name = token->node_name;
      if (name.empty()) return MakeError(EINVAL, "give the node a name: join TOKEN --name NAME");
      if (!token->node_name.empty() && token->node_name != name) {
        return MakeError(EINVAL, "this token is for the node \"" + token->node_name +
                                     "\", not \"" + name + "\"");
      }
      if (auto valid = ValidateNodeName(name); !valid.ok()) return valid.error();
      if (token->expires_at <= UnixNow()) {
        return MakeError(EKEYEXPIRED, "the token has expired");
      }
      std::string given = body.contains("endpoint") && body["endpoint"].is_string()
                              ? body["endpoint"].get<std::string>()
                              : std::string();
      auto endpoint = LocalEndpoint(given);
      if (!endpoint.ok()) return endpoint.error();
      return DoJoin(*token, name, *endpoint);
    }();
    responder->Respond(answer.ok() ? JsonResponse(*answer) : ErrorResponse(answer.error()));
  });
}

Result<nlohmann::json> Daemon::Impl::DoJoin(const JoinToken& token, const std::string& name,
                                            std::optional<Endpoint> endpoint) {
  {
    std::lock_guard lock(mu);
    if (state) {
      return MakeError(EEXIST, fmt::format("this node is already {} in the overlay {}; `leave` "
                                           "first",
                                           state->self.name, state->params.dns_zone));
    }
    if (joining) return MakeError(EBUSY, "a join is already in progress");
    joining = true;
  }
  struct ClearJoining {
    Impl* impl;
    ~ClearJoining() {
      std::lock_guard lock(impl->mu);
      impl->joining = false;
    }
  } clear_joining{this};

  auto index = net::InterfaceIndex(options.interface);
  if (!index.ok()) return index.error();
  const IpAddress own = NodeAddress(token.subnet4);
  const IpAddress enrolment = EnrolmentAddress(token.id);
  // Undo everything the attempt configured.
  auto rollback = [&] {
    device::ConfigRequest back;
    back.private_key = identity;
    back.replace_peers = true;
    (void)device->Apply(back);
    (void)net::RemoveAddress(*index, enrolment, 64);
  };

  // The tunnel to the control node, with the token's one-time key. The
  // control node's key is pinned: no other peer is configured.
  device::ConfigRequest tunnel;
  tunnel.private_key = token.onetime_private_key;
  tunnel.replace_peers = true;
  device::PeerConfig control;
  control.public_key = token.control_public_key;
  control.endpoint = token.control_endpoints.front();
  control.replace_allowed_ips = true;
  control.allowed_ips.push_back(Cidr(EnrolmentControlAddress(), 128));
  tunnel.peers.push_back(control);
  if (auto r = device->Apply(tunnel); !r.ok()) {
    rollback();
    return r.error().Wrap("configure the tunnel to the control node");
  }
  // The link first: an IPv6 address added to a down link is not yet
  // usable when it comes up, and the control node's first SYN-ACK is lost.
  if (auto r = net::SetLinkUp(*index, true); !r.ok()) {
    rollback();
    return r.error();
  }
  if (auto r = net::AddAddress(*index, enrolment, 64); !r.ok()) {
    rollback();
    return r.error().Wrap("the enrolment address (IPv6 must be enabled)");
  }

  // Enrol through the tunnel: our own public key never crosses the underlay
  // in clear.
  const nlohmann::json request = {{"token_id", token.id},
                                  {"name", name},
                                  {"public_key", public_key.ToBase64()},
                                  {"endpoint", endpoint ? endpoint->ToString() : ""}};
  HttpClient client(HttpTarget{"", Endpoint(EnrolmentControlAddress(), token.params.api_port)});
  client.SetCancel([this] { return stopping.load(); });
  const auto deadline = std::chrono::steady_clock::now() + kJoinTimeout;
  Result<HttpResponse> response = MakeError(ETIMEDOUT, "no attempt");
  for (int attempt = 0; attempt < 10 && std::chrono::steady_clock::now() < deadline; ++attempt) {
    response = client.Request("POST", "/v1/enrol", request.dump(), std::chrono::seconds(6));
    if (response.ok() || stopping) break;
  }
  if (!response.ok()) {
    rollback();
    return MakeError(response.error().code() == ECONNREFUSED ? ECONNREFUSED : ETIMEDOUT,
                     fmt::format("the control node {} did not answer through the tunnel ({}); "
                                 "is its daemon running and UDP {} reachable?",
                                 token.control_endpoints.front().ToString(),
                                 response.error().message(), token.control_endpoints.front().port()));
  }
  auto answer = JsonOf(*response, "the control node refused the join");
  if (!answer.ok()) {
    rollback();
    return answer.error();
  }
  auto member = (*answer).contains("member") ? MemberFromJson((*answer)["member"])
                                             : Result<Member>(MakeError(EPROTO, "no member"));
  auto control_member = (*answer).contains("control")
                            ? MemberFromJson((*answer)["control"])
                            : Result<Member>(MakeError(EPROTO, "no control member"));
  auto params = (*answer).contains("params") ? ParamsFromJson((*answer)["params"])
                                             : Result<OverlayParams>(MakeError(EPROTO, "no params"));
  if (!member.ok() || !control_member.ok() || !params.ok() || member->public_key != public_key) {
    rollback();
    return MakeError(EPROTO, "the control node's answer to the join is malformed");
  }

  // Our own key from now on; the control node already knows it.
  device::ConfigRequest own_key;
  own_key.private_key = identity;
  own_key.replace_peers = true;
  if (auto r = device->Apply(own_key); !r.ok()) {
    rollback();
    return r.error();
  }
  (void)net::RemoveAddress(*index, enrolment, 64);
  std::lock_guard lock(mu);
  NodeState s;
  s.role = NodeState::Role::kMember;
  s.params = *params;
  s.self = *member;
  s.control_public_key = token.control_public_key;
  s.control_endpoints = token.control_endpoints;
  s.control_address = token.control_address;
  // The rest of the membership comes with the first watch answer.
  s.revision = 0;
  s.members = {*control_member, *member};
  if (s.members[1].name < s.members[0].name) std::swap(s.members[0], s.members[1]);
  state = std::move(s);
  if (auto saved = SaveStateLocked(); !saved.ok()) {
    DeactivateLocked("join failed");
    return saved.error();
  }
  if (auto active = ActivateLocked(); !active.ok()) {
    DeactivateLocked("join failed: " + active.error().message());
    return active.error();
  }
  events.Append("joined", {{"name", name}, {"address", own.ToString()}});
  LogVerbose("joined the overlay " + state->params.dns_zone + " as " + name);
  return nlohmann::json{{"name", name},
                        {"address", own.ToString()},
                        {"subnet", member->subnet4.ToString()},
                        {"dns_zone", state->params.dns_zone}};
}

// --- leave ---

Result<nlohmann::json> Daemon::Impl::Leave(bool force) {
  std::string name;
  {
    std::lock_guard lock(mu);
    if (!state) return MakeError(ENOTCONN, "this node is not in an overlay");
    if (state->role == NodeState::Role::kControl) {
      return MakeError(EINVAL, "the control node cannot leave: it holds the overlay's store");
    }
    name = state->self.name;
  }
  auto told = CallControl("POST", "/v1/leave", nlohmann::json::object(), kControlCallTimeout);
  if (!told.ok() && !force) {
    return told.error().Wrap("could not tell the control node (use `leave --force` to leave "
                             "locally; then run `node remove " + name + "` on the control node)");
  }
  std::lock_guard lock(mu);
  DeactivateLocked(told.ok() ? "left the overlay" : "left the overlay locally (--force)",
                   /*voluntary=*/true);
  return nlohmann::json{{"left", name}, {"control_node_told", told.ok()}};
}

Result<nlohmann::json> Daemon::Impl::CallControl(const std::string& method,
                                                 const std::string& path,
                                                 const nlohmann::json& body,
                                                 std::chrono::milliseconds timeout) {
  HttpTarget target;
  {
    std::lock_guard lock(mu);
    if (!state) return MakeError(ENOTCONN, "this node is not in an overlay");
    target.tcp = Endpoint(state->control_address, state->params.api_port);
  }
  HttpClient client(target);
  client.SetCancel([this] { return stopping.load(); });
  auto response = client.Request(method, path, body.dump(), timeout);
  if (!response.ok()) {
    return MakeError(response.error().code(),
                     "the control node is unreachable: " + response.error().message());
  }
  return JsonOf(*response, "the control node refused");
}

// --- the watch ---

void Daemon::Impl::SetControlReachableLocked(bool reachable, const std::string& why) {
  if (control_reachable == reachable) return;
  control_reachable = reachable;
  if (reachable) {
    events.Append("control-reachable", nlohmann::json::object());
    LogError("the control node is reachable again");
  } else {
    events.Append("control-unreachable", {{"reason", why}});
    LogError("the control node is unreachable (" + why + "); existing tunnels keep working");
  }
}

void Daemon::Impl::StartWatchLocked() {
  const uint64_t generation = ++watch_generation;
  watch_threads.emplace_back([this, generation] { WatchLoop(generation); });
}

void Daemon::Impl::StopWatch() {
  ++watch_generation;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu);
    threads.swap(watch_threads);
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

void Daemon::Impl::WatchLoop(uint64_t generation) {
  HttpTarget target;
  std::optional<Endpoint> publish;
  {
    std::lock_guard lock(mu);
    if (!state) return;
    target.tcp = Endpoint(state->control_address, state->params.api_port);
    if (options.endpoint && state->self.endpoint != options.endpoint) publish = options.endpoint;
  }
  HttpClient client(target);
  client.SetCancel([this, generation] { return WatchCancelled(generation); });
  client.SetConnectTimeout(kWatchConnectTimeout);
  auto pause = [&](std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, d, [&] { return WatchCancelled(generation); });
  };
  std::chrono::milliseconds backoff(250);
  while (!WatchCancelled(generation)) {
    if (publish) {
      auto r = client.Request("PUT", "/v1/self",
                              nlohmann::json{{"endpoint", publish->ToString()}}.dump(),
                              kControlCallTimeout);
      if (r.ok() && r->status < 300) {
        LogVerbose("published the new endpoint " + publish->ToString());
        publish.reset();
      }
    }
    uint64_t since = 0;
    {
      std::lock_guard lock(mu);
      if (!state) return;
      since = state->revision;
    }
    auto response = client.Get(fmt::format("/v1/watch?since={}&timeout={}", since, kWatchSeconds),
                               kWatchHttpTimeout);
    if (WatchCancelled(generation)) return;
    if (!response.ok() || response->status >= 500) {
      std::lock_guard lock(mu);
      SetControlReachableLocked(false, response.ok() ? "HTTP " + std::to_string(response->status)
                                                     : response.error().message());
    } else if (response->status == 403) {
      std::lock_guard lock(mu);
      if (watch_generation == generation && state) {
        DeactivateLocked("the control node no longer knows this node (removed)");
      }
      return;
    } else {
      auto body = JsonOf(*response, "watch");
      Result<Delta> delta = body.ok() ? DeltaFromJson(*body) : Result<Delta>(body.error());
      if (delta.ok() && delta->full_resync) {
        auto snap_response = client.Get("/v1/snapshot", kControlCallTimeout);
        auto snap_json = snap_response.ok() ? JsonOf(*snap_response, "snapshot")
                                            : Result<nlohmann::json>(snap_response.error());
        auto snap = snap_json.ok() ? SnapshotFromJson(*snap_json)
                                   : Result<StoreSnapshot>(snap_json.error());
        std::lock_guard lock(mu);
        if (snap.ok() && state && watch_generation == generation) {
          LogVerbose(fmt::format("resynchronised with the control node at revision {}",
                                 snap->revision));
          UpdateMembershipLocked(snap->revision, snap->members, snap->names);
        }
      } else if (delta.ok()) {
        std::lock_guard lock(mu);
        SetControlReachableLocked(true, "");
        if (state && watch_generation == generation && !delta->changes.empty()) {
          ApplyChangesLocked(delta->revision, delta->changes);
        } else if (state && delta->revision > state->revision) {
          state->revision = delta->revision;
        }
        backoff = std::chrono::milliseconds(250);
        continue;
      } else {
        LogError("watch: " + delta.error().message());
      }
    }
    pause(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace zl::overlay
