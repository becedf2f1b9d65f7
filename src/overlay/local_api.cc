// The local API on DIR/control.sock: what the CLI's commands call.
//
//   GET    /v1/status               this node and its peers
//   GET    /v1/peers                the peers only
//   GET    /v1/events?since=N&timeout=S   events after N (long poll)
//   POST   /v1/init                 {name, cidr, cidr6?, endpoint?, node_prefix?, dns_zone?, dns_port?}
//   POST   /v1/tokens               {ttl_seconds?, name?}   (control node)
//   GET    /v1/tokens                                        (control node)
//   DELETE /v1/tokens/ID                                     (control node)
//   POST   /v1/join                 {token, name?, endpoint?}
//   POST   /v1/leave                {force?}
//   DELETE /v1/nodes/NAME                                    (control node)
//   POST   /v1/names                {name, address} | {name, target, port}
//   DELETE /v1/names/NAME
//   GET    /metrics                 Prometheus text
//
// Errors are {"error": "...", "errno": N} with a fitting HTTP status.

#include <fmt/format.h>

#include <algorithm>

#include "overlay/daemon_impl.h"
#include "overlay/model_json.h"

namespace zl::overlay {
namespace {

bool ParseU64(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

Result<bool> Daemon::Impl::IsControlNode() {
  std::lock_guard lock(mu);
  if (!state) return MakeError(ENOTCONN, "this node is not in an overlay");
  return state->role == NodeState::Role::kControl;
}

HttpResponse Daemon::Impl::EventsAnswer(uint64_t since) {
  nlohmann::json list = nlohmann::json::array();
  for (const Event& e : events.Since(since)) list.push_back(EventToJson(e));
  return JsonResponse({{"last_seq", events.last_seq()}, {"events", list}});
}

void Daemon::Impl::HandleEvents(const HttpRequest& request,
                                std::shared_ptr<HttpResponder> responder) {
  uint64_t since = 0;
  uint64_t timeout = 30;
  if (auto it = request.query.find("since"); it != request.query.end() &&
                                             !ParseU64(it->second, since)) {
    responder->Respond(ErrorResponse(400, "since must be a number"));
    return;
  }
  if (auto it = request.query.find("timeout"); it != request.query.end() &&
                                               !ParseU64(it->second, timeout)) {
    responder->Respond(ErrorResponse(400, "timeout must be a number of seconds"));
    return;
  }
  timeout = std::min<uint64_t>(timeout, kMaxLongPoll.count());
  if (events.last_seq() > since || timeout == 0) {
    responder->Respond(EventsAnswer(since));
    return;
  }
  event_waiters.Park(since, clock.Read().mono + std::chrono::seconds(timeout), responder);
  event_waiters.Wake(events.last_seq(), [this](uint64_t s) { return EventsAnswer(s); });
}

void Daemon::Impl::HandleDnsRegister(const HttpRequest& request,
                                     std::shared_ptr<HttpResponder> responder) {
  auto body = ParseBody(request);
  if (!body.ok()) {
    responder->Respond(ErrorResponse(body.error()));
    return;
  }
  // The request carries the record's fields, not a stored record: no
  // revision (the store assigns it).
  nlohmann::json fields = *body;
  fields["revision"] = 0;
  auto record = DnsRecordFromJson(fields);
  if (!record.ok()) {
    responder->Respond(ErrorResponse(record.error()));
    return;
  }
  auto control = IsControlNode();
  if (!control.ok()) {
    responder->Respond(ErrorResponse(control.error()));
    return;
  }
  if (*control) {
    auto stored = RegisterNameOnControl(*record, nullptr);
    responder->Respond(stored.ok() ? JsonResponse(ToJson(*stored)) : ErrorResponse(stored.error()));
    return;
  }
  RunTask([this, r = *record, responder] {
    auto answer = CallControl("POST", "/v1/names", ToJson(r), std::chrono::seconds(10));
    responder->Respond(answer.ok() ? JsonResponse(*answer) : ErrorResponse(answer.error()));
  });
}

void Daemon::Impl::HandleDnsUnregister(const std::string& name,
                                       std::shared_ptr<HttpResponder> responder) {
  auto control = IsControlNode();
  if (!control.ok()) {
    responder->Respond(ErrorResponse(control.error()));
    return;
  }
  if (*control) {
    auto removed = UnregisterNameOnControl(name);
    responder->Respond(removed.ok() ? JsonResponse({{"removed", name}})
                                    : ErrorResponse(removed.error()));
    return;
  }
  RunTask([this, name, responder] {
    auto answer = CallControl("DELETE", "/v1/names/" + name, nlohmann::json::object(),
                              std::chrono::seconds(10));
    responder->Respond(answer.ok() ? JsonResponse(*answer) : ErrorResponse(answer.error()));
  });
}

void Daemon::Impl::HandleLocal(const HttpRequest& request,
                               std::shared_ptr<HttpResponder> responder) {
  const std::string& m = request.method;
  const std::string& p = request.path;
  auto reply = [&](const Result<nlohmann::json>& r) {
    responder->Respond(r.ok() ? JsonResponse(*r) : ErrorResponse(r.error()));
  };
  auto body = ParseBody(request);
  if (!body.ok()) {
    responder->Respond(ErrorResponse(body.error()));
    return;
  }
  if (m == "GET" && p == "/v1/status") {
    std::lock_guard lock(mu);
    responder->Respond(JsonResponse(StatusJsonLocked()));
  } else if (m == "GET" && p == "/v1/peers") {
    auto device_state = device->Snapshot();
    std::lock_guard lock(mu);
    responder->Respond(JsonResponse(
        {{"peers", PeersJsonLocked(device_state.ok() ? &*device_state : nullptr)}}));
  } else if (m == "GET" && p == "/v1/events") {
    HandleEvents(request, responder);
  } else if (m == "POST" && p == "/v1/init") {
    reply(Init(*body));
  } else if (m == "POST" && p == "/v1/tokens") {
    reply(CreateToken(*body));
  } else if (m == "GET" && p == "/v1/tokens") {
    reply(ListTokens());
  } else if (m == "DELETE" && p.rfind("/v1/tokens/", 0) == 0) {
    reply(RevokeToken(p.substr(11)));
  } else if (m == "POST" && p == "/v1/join") {
    Join(*body, responder);
  } else if (m == "POST" && p == "/v1/leave") {
    const bool force = body->contains("force") && (*body)["force"].is_boolean() &&
                       (*body)["force"].get<bool>();
    RunTask([this, force, responder] {
      auto r = Leave(force);
      responder->Respond(r.ok() ? JsonResponse(*r) : ErrorResponse(r.error()));
    });
  } else if (m == "DELETE" && p.rfind("/v1/nodes/", 0) == 0) {
    reply(RemoveNode(p.substr(10)));
  } else if (m == "POST" && p == "/v1/names") {
    HandleDnsRegister(request, responder);
  } else if (m == "DELETE" && p.rfind("/v1/names/", 0) == 0) {
    HandleDnsUnregister(p.substr(10), responder);
  } else if (m == "GET" && p == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = MetricsText();
    responder->Respond(std::move(r));
  } else {
    responder->Respond(ErrorResponse(404, "no such endpoint: " + m + " " + p));
  }
}

}  // namespace zl::overlay
