#pragma once
// Daemon::Impl: the node's state and its steps, shared by
//   daemon.cc        start, stop, activation of the overlay, peer sync, DNS
//                    data, the ticker (health, timers);
//   local_api.cc     the local API on DIR/control.sock (the CLI's commands);
//   control_node.cc  the control node: init, tokens, enrolment, removal,
//                    names, and the peer API served through the tunnel;
//   member_node.cc   a member: join, the watch that follows the control
//                    node, leave;
//   status.cc        status/peers JSON and metrics.
// Internal to the overlay layer.
//
// Locking: `mu` guards the node state below it. Device calls (Apply,
// Snapshot) may be made with `mu` held: they wait for the loop thread, which
// never takes `mu`. HTTP responders are answered without `mu` when they may
// block (LongPoll answers run outside it).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/keys.h"
#include "device/device.h"
#include "overlay/daemon.h"
#include "overlay/dns_server.h"
#include "overlay/dns_zone.h"
#include "overlay/event_log.h"
#include "overlay/health.h"
#include "overlay/http_server.h"
#include "overlay/long_poll.h"
#include "overlay/node_state.h"
#include "overlay/peer_sync.h"
#include "overlay/prober.h"
#include "overlay/store.h"
#include "overlay/token.h"

namespace zl::overlay {

// How long a watch or events long-poll may wait (the client asks; capped).
inline constexpr auto kMaxLongPoll = std::chrono::seconds(60);
// The ticker's period, and the health rounds' (probes through the tunnel).
inline constexpr auto kTickPeriod = std::chrono::milliseconds(200);
inline constexpr auto kHealthPeriod = std::chrono::seconds(2);
inline constexpr auto kProbeTimeout = std::chrono::milliseconds(1000);
// Peers probed per health round at most (a rotating window beyond that).
inline constexpr size_t kMaxProbesPerRound = 256;
// The device's peers are compared with the whole membership this often.
inline constexpr auto kFullSyncPeriod = std::chrono::seconds(10);
// node.json is saved at most this often (it is a cache; a lost save costs a
// resync, never a wrong state).
inline constexpr auto kStateSavePeriod = std::chrono::seconds(2);
// How long a built snapshot of the store may be served again.
inline constexpr auto kSnapshotReuse = std::chrono::milliseconds(500);
// A removed node stays a peer this long, so the watch answer that tells it
// reaches it through its tunnel.
inline constexpr auto kRemovalGrace = std::chrono::milliseconds(1500);
// A token's one-time peer stays on the control node this long after the
// token expires, so a late joiner is told "expired" rather than nothing.
inline constexpr int64_t kEnrolmentGraceSeconds = 3600;
// A join waits this long for the control node to answer through the tunnel.
inline constexpr auto kJoinTimeout = std::chrono::seconds(20);

// An HTTP error answer: {"error": message} with a status that fits the errno.
HttpResponse ErrorResponse(const Error& error);
HttpResponse ErrorResponse(int status, const std::string& message);
HttpResponse JsonResponse(const nlohmann::json& body, int status = 200);
// Parses a JSON request body; EINVAL with a clear message.
Result<nlohmann::json> ParseBody(const HttpRequest& request);

int64_t UnixNow();

struct Daemon::Impl {
  Impl(net::EventLoop& loop, DaemonOptions options, const Clock& clock, crypto::Rng& rng)
      : loop(loop), options(std::move(options)), clock(clock), rng(rng) {}

  // --- daemon.cc ---
  Result<void> Start();
  // `loop_running`: the loop still runs on its thread (a failed Start);
  // else it has stopped (normal shutdown). See Daemon::Stop.
  void Stop(bool loop_running);
  // Brings the overlay up from `state` (addresses, link, DNS, probes,
  // peers; the peer API on the control node; the watch on a member).
  Result<void> ActivateLocked();
  // Takes the node out of its overlay (leave, removal): servers stopped,
  // peers and addresses removed, node.json deleted.
  // `voluntary` (leave): logged as information, not as an error.
  void DeactivateLocked(const std::string& why, bool voluntary = false);
  // Makes the device's peers match the membership (+ pending tokens and
  // departing members and token peers on the control node), refreshes the DNS zone and the health map.
  Result<void> ApplyMembershipLocked();
  std::vector<DesiredPeer> DesiredPeersLocked();
  DesiredPeer DesiredForMember(const Member& member) const;
  static DesiredPeer DesiredForToken(const TokenRecord& token);
  // Configures just these peers (upserted or removed), against what we
  // configured before: the cost of a change is what it touches.
  Result<void> ApplyPeerDeltaLocked(const std::vector<DesiredPeer>& upserts,
                                    const std::vector<crypto::PublicKey>& removals);
  void IndexMembersLocked();
  void IndexMemberLocked(const Member& member, bool add);
  const Member* MemberByNameLocked(const std::string& name) const;
  // After the cached membership changed: indexes, our own record (false,
  // and the node leaves, if it is gone), node.json and the zone marked dirty.
  bool AdoptMembershipLocked(bool reindex);
  void RebuildDnsLocked();
  // Replaces the cached membership, records events for what changed, saves
  // node.json and applies it.
  void UpdateMembershipLocked(uint64_t revision, std::vector<Member> members,
                              std::vector<DnsRecord> names);
  // Applies store changes (from the control node's watch, or the local
  // store) to the cached view, then as UpdateMembershipLocked.
  void ApplyChangesLocked(uint64_t revision, const std::vector<Change>& changes);
  Result<void> SaveStateLocked();
  void TickerLoop();
  void HealthRound();
  Result<void> SetOverlayAddresses(bool add);
  const Member* FindMemberLocked(const crypto::PublicKey& key) const;
  const Member* MemberOwningLocked(const IpAddress& address) const;

  // --- local_api.cc ---
  void HandleLocal(const HttpRequest& request, std::shared_ptr<HttpResponder> responder);
  void HandleEvents(const HttpRequest& request, std::shared_ptr<HttpResponder> responder);
  void HandleDnsRegister(const HttpRequest& request, std::shared_ptr<HttpResponder> responder);
  void HandleDnsUnregister(const std::string& name, std::shared_ptr<HttpResponder> responder);
  HttpResponse EventsAnswer(uint64_t since);
  // True on the control node, false on a member, ENOTCONN in no overlay.
  Result<bool> IsControlNode();

  // --- control_node.cc ---
  Result<nlohmann::json> Init(const nlohmann::json& body);
  Result<nlohmann::json> CreateToken(const nlohmann::json& body);
  Result<nlohmann::json> ListTokens();
  Result<nlohmann::json> RevokeToken(const std::string& id);
  Result<nlohmann::json> RemoveNode(const std::string& name);
  Result<DnsRecord> RegisterNameOnControl(const DnsRecord& record, const Member* by);
  Result<void> UnregisterNameOnControl(const std::string& name);
  // After every store mutation: refresh the cached view from the store and
  // wake the watchers.
  void OnStoreChanged();
  Result<void> StartPeerApiLocked();
  void HandlePeer(const HttpRequest& request, std::shared_ptr<HttpResponder> responder);
  HttpResponse WatchAnswer(uint64_t since);
  HttpResponse SnapshotAnswer();
  void ControlTickLocked(MonoTime now);

  // --- member_node.cc ---
  void Join(const nlohmann::json& body, std::shared_ptr<HttpResponder> responder);
  Result<nlohmann::json> DoJoin(const JoinToken& token, const std::string& name,
                                std::optional<Endpoint> endpoint);
  Result<nlohmann::json> Leave(bool force);
  // Where this node's WireGuard endpoint is published: the given one, else
  // the default route's source address and our listen port.
  Result<Endpoint> LocalEndpoint(const std::string& given);
  void StartWatchLocked();
  void StopWatch();
  void WatchLoop(uint64_t generation);
  bool WatchCancelled(uint64_t generation) const {
    return stopping || watch_generation != generation;
  }
  // Records that the control node is (un)reachable, once per change.
  void SetControlReachableLocked(bool reachable, const std::string& why);
  // Forwards a request to the control node's peer API (members).
  Result<nlohmann::json> CallControl(const std::string& method, const std::string& path,
                                     const nlohmann::json& body,
                                     std::chrono::milliseconds timeout);

  // --- status.cc ---
  nlohmann::json StatusJsonLocked();
  nlohmann::json PeersJsonLocked(const device::DeviceState* device_state);
  std::string MetricsText();

  net::EventLoop& loop;
  const DaemonOptions options;
  const Clock& clock;
  crypto::Rng& rng;
  crypto::PrivateKey identity;
  crypto::PublicKey public_key;

  std::unique_ptr<device::Device> device;
  std::unique_ptr<HttpServer> local_api;
  std::unique_ptr<HttpServer> metrics_server;
  DnsZone dns_zone;
  EventLog events;
  LongPoll event_waiters;
  LongPoll watchers;  // control node: members' watch requests
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable cv;  // wakes the ticker and the watch on Stop
  std::optional<NodeState> state;
  std::unique_ptr<Store> store;           // control node
  std::unique_ptr<HttpServer> peer_api;   // control node, on its overlay address
  std::unique_ptr<HttpServer> enrol_api;  // control node, on EnrolmentControlAddress
  std::vector<std::unique_ptr<DnsServer>> dns_servers;
  std::unique_ptr<ProbeResponder> probe_responder;
  AppliedEndpoints applied_endpoints;
  std::map<crypto::PublicKey, DesiredPeer> configured;  // what the device was given
  // Indexes of state->members (sorted by name): key -> name, subnet -> name.
  std::map<crypto::PublicKey, std::string> member_by_key;
  std::map<IpAddress, std::string> member_by_subnet;
  bool dns_dirty = false;    // the zone is rebuilt by the ticker
  bool state_dirty = false;  // node.json is saved by the ticker
  MonoTime next_full_sync{};
  struct PeerInfo {
    PeerHealth health;
    std::optional<Duration> rtt;
  };
  std::map<crypto::PublicKey, PeerInfo> peer_info;
  // Control node: removed members in their grace time.
  struct Departing {
    crypto::PublicKey key;
    std::vector<Cidr> allowed_ips;
    MonoTime due;
  };
  std::vector<Departing> departing;
  bool control_reachable = true;
  size_t probe_cursor = 0;  // guarded by mu
  MonoTime next_state_save{};
  MonoTime next_dns_rebuild{};
  Duration last_dns_rebuild_cost{};
  std::mutex snapshot_mu;  // guards the two below
  std::optional<HttpResponse> snapshot_cache;
  MonoTime snapshot_cache_built{};
  // Member: the watch thread of the current membership. A new generation
  // (join, leave, removal) makes the old thread end on its own; all are
  // joined at Stop, never with `mu` held.
  std::atomic<uint64_t> watch_generation{0};
  std::vector<std::thread> watch_threads;  // guarded by mu
  bool joining = false;                    // guarded by mu
  std::thread ticker;
  // Slow local requests (join, leave, forwarded names) run on threads of
  // their own so the local API stays responsive; joined at Stop.
  void RunTask(std::function<void()> task);
  std::mutex tasks_mu;
  struct Task {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Task> tasks;
};

}  // namespace zl::overlay
