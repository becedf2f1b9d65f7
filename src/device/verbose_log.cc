#include "device/verbose_log.h"

#include <chrono>

#include <fmt/format.h>

#include "base/log.h"

namespace zl::device {
namespace {

// Prefixes listed in one "allowed IPs added" line; the rest are counted.
constexpr size_t kPrefixesListed = 8;

std::string ListPrefixes(const std::vector<Cidr>& prefixes) {
  std::string out;
  const size_t listed = std::min(prefixes.size(), kPrefixesListed);
  for (size_t i = 0; i < listed; ++i) {
    if (i > 0) out += ", ";
    out += prefixes[i].ToString();
  }
  if (prefixes.size() > listed) {
    out += fmt::format(" (and {} more)", prefixes.size() - listed);
  }
  return out;
}

long long Seconds(Duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

}  // namespace

std::string ShortKey(const crypto::PublicKey& key) {
  const std::string b64 = key.ToBase64();  // 43 characters and one '='
  return b64.substr(0, 4) + "…" + b64.substr(b64.size() - 5, 4);
}

std::string ShortPeerName(const crypto::PublicKey& key) {
  return "peer(" + ShortKey(key) + ")";
}

void PeerNames::Add(wg::PeerId id, const crypto::PublicKey& key) {
  names_[id] = ShortPeerName(key);
}

std::string PeerNames::Prefix(wg::PeerId id) const {
  auto it = names_.find(id);
  return it == names_.end() ? std::string() : it->second + ": ";
}

bool LogBudget::Allow(MonoTime now) {
  if (now - window_start >= std::chrono::seconds(1)) {
    window_start = now;
    used = 0;
  }
  return used++ < kMaxPerSecond;
}

void LogPeerUpdate(std::string_view name, const wg::PeerUpdate& update,
                   PeerChange change, const Result<void>& result) {
  auto line = [name](std::string_view what) {
    LogVerbose(fmt::format("{}: {}", name, what));
  };
  if (update.remove) {
    if (change.existed) line("removed");
    return;
  }
  if (!change.exists) {
    // update_only for an unknown peer, our own key, or over the peer cap.
    if (!result.ok()) line("not created: " + result.error().message());
    return;
  }
  if (!change.existed) line("created");
  if (update.preshared_key) {
    line(update.preshared_key->IsZero() ? "preshared key cleared" : "preshared key set");
  }
  if (update.endpoint) line("endpoint set to " + update.endpoint->ToString());
  if (update.persistent_keepalive_interval) {
    const uint16_t interval = *update.persistent_keepalive_interval;
    line(interval == 0 ? std::string("persistent keepalive off")
                       : fmt::format("persistent keepalive every {} s", interval));
  }
  // wg(8) asks to replace whenever it sets allowed IPs; a new peer had none.
  const bool replaced = update.replace_allowed_ips && change.existed;
  const size_t n = update.allowed_ips.size();
  if (replaced && n == 0) line("all allowed IPs removed");
  if (n > 0) {
    line(fmt::format("{} {} allowed IP{}: {}", replaced ? "replaced by" : "added", n,
                     n == 1 ? "" : "s", ListPrefixes(update.allowed_ips)));
  }
  if (!result.ok()) line("update stopped: " + result.error().message());
}

void LogEngineEvent(const PeerNames& names, const wg::EngineEventInfo& info) {
  using wg::EngineEvent;
  const std::string peer = names.Prefix(info.peer);
  switch (info.event) {
    case EngineEvent::kHandshakeInitiationSent:
      if (info.attempt > 1) {
        LogVerbose(fmt::format("{}sending handshake initiation (attempt {})", peer,
                               info.attempt));
      } else {
        LogVerbose(peer + "sending handshake initiation");
      }
      return;
    case EngineEvent::kHandshakeInitiationReceived:
      LogVerbose(peer + "received handshake initiation");
      return;
    case EngineEvent::kHandshakeResponseSent:
      LogVerbose(peer + "sending handshake response");
      return;
    case EngineEvent::kHandshakeResponseReceived:
      LogVerbose(peer + "received handshake response");
      return;
    case EngineEvent::kCookieReplySent:
      LogVerbose(fmt::format("under load: sending cookie reply to {} instead of answering its "
                             "handshake message",
                             info.remote.ToString()));
      return;
    case EngineEvent::kCookieReplyReceived:
      LogVerbose(peer + "received cookie reply: the peer is under load");
      return;
    case EngineEvent::kKeypairCreated:
      LogVerbose(peer + "keypair created");
      return;
    case EngineEvent::kHandshakeCompleted:
      LogVerbose(peer + "handshake completed");
      return;
    case EngineEvent::kHandshakeRetry:
      LogVerbose(fmt::format("{}handshake did not complete after {} s, retrying (attempt {})",
                             peer, Seconds(wg::kRekeyTimeout), info.attempt));
      return;
    case EngineEvent::kHandshakeGivenUp:
      LogVerbose(fmt::format(
          "{}handshake did not complete after {} attempts, giving up (queued packets dropped)",
          peer, info.attempt));
      return;
    case EngineEvent::kHandshakeAfterSilence:
      LogVerbose(fmt::format("{}nothing heard back for {} s after sending, retrying handshake",
                             peer, Seconds(wg::kKeepaliveTimeout + wg::kRekeyTimeout)));
      return;
    case EngineEvent::kKeepaliveSent:
      LogVerbose(peer + "sending keepalive");
      return;
    case EngineEvent::kKeysZeroed:
      LogVerbose(fmt::format("{}no new session for {} s: keys expired, zeroed", peer,
                             Seconds(wg::kZeroKeysAfter)));
      return;
  }
}

}  // namespace zl::device
