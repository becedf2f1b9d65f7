#pragma once
// The device's verbose log (LOG_LEVEL=verbose), telling what wireguard-go
// tells: each configuration change a `set` applies, and each protocol event
// the engine reports (handshakes sent, received and completed, retries,
// keepalives, keys zeroed).
//
// Never a secret: a private or preshared key is only said to be set or
// cleared. Peers are named by a short form of their public key,
// "peer(AbCd…WxYz)", as wireguard-go names them.
//
// Internal to the device layer. Callers check GetLogLevel() first, so
// nothing is formatted while verbose logging is off. Thread safety: the
// device guards its PeerNames with a mutex, and each of its threads has a
// LogBudget of its own; the functions only call Log() (thread-safe).

#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"
#include "base/result.h"
#include "crypto/keys.h"
#include "wg/engine.h"

namespace zl::device {

// "AbCd…WxYz": the first four and the last four characters of the key's
// base64 (before the padding).
std::string ShortKey(const crypto::PublicKey& key);
// "peer(AbCd…WxYz)".
std::string ShortPeerName(const crypto::PublicKey& key);

// The names of the engine's peers for log lines, kept as peers come and go.
class PeerNames {
 public:
  void Add(wg::PeerId id, const crypto::PublicKey& key);
  void Remove(wg::PeerId id) { names_.erase(id); }
  void Clear() { names_.clear(); }
  // "peer(AbCd…WxYz): ", or "" for a peer without a name (kNoPeer).
  std::string Prefix(wg::PeerId id) const;

 private:
  std::unordered_map<wg::PeerId, std::string> names_;
};

// At most kMaxPerSecond lines a second, for what a flood can cause (dropped
// packets, cookie replies): a flood must not become a flood of log lines.
struct LogBudget {
  static constexpr int kMaxPerSecond = 20;
  MonoTime window_start{};
  int used = 0;
  bool Allow(MonoTime now);
};

// How one peer block (or part of one) of a set changed the peer.
struct PeerChange {
  bool existed = false;  // before the update
  bool exists = false;   // after it (false: removed, or ignored)
};

// Logs what `update` did to the peer named `name` (ShortPeerName), one line
// per change; `result` is the engine's answer to it.
void LogPeerUpdate(std::string_view name, const wg::PeerUpdate& update,
                   PeerChange change, const Result<void>& result);

// Logs one engine event (wg::EngineEvent).
void LogEngineEvent(const PeerNames& names, const wg::EngineEventInfo& info);

}  // namespace zl::device
