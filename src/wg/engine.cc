// wg::Engine: configuration, timers and introspection. The outbound path is
// in send.cc, the inbound path in receive.cc; the shared state in
// engine_impl.h.

#include "wg/engine.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "crypto/x25519.h"
#include "wg/engine_impl.h"

namespace zl::wg {

const char* DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kNoRoute:
      return "no_route";
    case DropReason::kNoEndpoint:
      return "no_endpoint";
    case DropReason::kNoPrivateKey:
      return "no_private_key";
    case DropReason::kQueueFull:
      return "queue_full";
    case DropReason::kInvalidPacket:
      return "invalid_packet";
    case DropReason::kMalformedMessage:
      return "malformed_message";
    case DropReason::kInvalidMac1:
      return "invalid_mac1";
    case DropReason::kRateLimited:
      return "rate_limited";
    case DropReason::kCookieRequired:
      return "cookie_required";
    case DropReason::kHandshakeFailed:
      return "handshake_failed";
    case DropReason::kUnknownPeer:
      return "unknown_peer";
    case DropReason::kReplayedInitiation:
      return "replayed_initiation";
    case DropReason::kInitiationFlood:
      return "initiation_flood";
    case DropReason::kUnknownIndex:
      return "unknown_index";
    case DropReason::kInvalidCookieReply:
      return "invalid_cookie_reply";
    case DropReason::kDecryptFailed:
      return "decrypt_failed";
    case DropReason::kReplayedCounter:
      return "replayed_counter";
    case DropReason::kKeypairExpired:
      return "keypair_expired";
    case DropReason::kSourceNotAllowed:
      return "source_not_allowed";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

const char* EngineEventName(EngineEvent event) {
  switch (event) {
    case EngineEvent::kHandshakeInitiationSent:
      return "handshake_initiation_sent";
    case EngineEvent::kHandshakeInitiationReceived:
      return "handshake_initiation_received";
    case EngineEvent::kHandshakeResponseSent:
      return "handshake_response_sent";
    case EngineEvent::kHandshakeResponseReceived:
      return "handshake_response_received";
    case EngineEvent::kCookieReplySent:
      return "cookie_reply_sent";
    case EngineEvent::kCookieReplyReceived:
      return "cookie_reply_received";
    case EngineEvent::kKeypairCreated:
      return "keypair_created";
    case EngineEvent::kHandshakeCompleted:
      return "handshake_completed";
    case EngineEvent::kHandshakeRetry:
      return "handshake_retry";
    case EngineEvent::kHandshakeGivenUp:
      return "handshake_given_up";
    case EngineEvent::kHandshakeAfterSilence:
      return "handshake_after_silence";
    case EngineEvent::kKeepaliveSent:
      return "keepalive_sent";
    case EngineEvent::kKeysZeroed:
      return "keys_zeroed";
  }
  return "unknown";
}

Engine::Impl::Impl(EngineOptions opts, crypto::Rng& r)
    : options(opts),
      rng(r),
      jitter(r.NextU64()),
      rate_limiter(opts.initiations_per_second_per_source,
                   opts.initiation_burst_per_source, 65536, r.NextU64()),
      flood_shedder(opts.handshakes_per_second_per_source_under_load,
                    opts.handshake_burst_per_source_under_load,
                    [&r] {
                      crypto::SipHashKey key;
                      r.Fill(MutableByteSpan(key));
                      return key;
                    }()),
      scratch(kMaxIpPacketSize + kMaxTransportOverhead) {}

Peer* Engine::Impl::FindPeer(PeerId id) const {
  auto it = peers.find(id);
  return it == peers.end() ? nullptr : it->second.get();
}

Peer* Engine::Impl::FindPeer(const crypto::PublicKey& key) const {
  auto it = peers_by_key.find(key);
  return it == peers_by_key.end() ? nullptr : FindPeer(it->second);
}

void Engine::Impl::PrecomputeStaticStatic(Peer& peer) const {
  peer.identity.precomputed_ss.Wipe();
  if (!local) return;
  // A low-order peer key yields an error: the secret stays zero and every
  // handshake with that peer fails, as in wireguard-go.
  if (auto ss = crypto::X25519(local->private_key, peer.identity.public_key);
      ss.ok()) {
    peer.identity.precomputed_ss = std::move(ss.value());
  }
}

PeerId Engine::Impl::CreatePeer(const crypto::PublicKey& key) {
  const PeerId id = next_peer_id++;
  auto peer = std::make_unique<Peer>(id, options.staged_packets_per_peer);
  peer->identity.public_key = key;
  peer->cookies.SetRemotePublicKey(key);
  PrecomputeStaticStatic(*peer);
  peers.emplace(id, std::move(peer));
  peers_by_key.emplace(key, id);
  return id;
}

// Removing a peer (kernel peer.c's checklist, in order):
//   1. its prefixes leave the routing table, so nothing new is sent to it;
//   2. its keypairs and handshake are wiped and their indices erased, so
//      nothing received can reach it;
//   3. its staged packets are dropped and its timers stopped;
//   4. it is forgotten by key and by id.
// OpenSSL's copies of transport keys in the AEAD pool go with 2 (those out
// on loan when their call ends).
void Engine::Impl::ErasePeer(Peer& peer) {
  const PeerId id = peer.id;
  allowed_ips.RemoveByPeer(id);
  peer.ZeroAndFlushAll(indices);
  aead_pool.WipeIdle();
  peer.timers.Stop();
  peers_by_key.erase(peer.identity.public_key);
  peers.erase(id);
}

void Engine::Impl::CountDrop(Peer* peer, DropReason reason) {
  if (peer != nullptr) {
    peer->CountDrop(reason);
  } else {
    ++interface_drops[size_t(reason)];
  }
}

void Engine::Impl::Report(PacketSink& sink, EngineEvent event,
                          const Peer& peer, uint32_t attempt) {
  EngineEventInfo info;
  info.event = event;
  info.peer = peer.id;
  info.attempt = attempt;
  sink.OnEvent(info);
}

void Engine::Impl::TickPeer(Peer& peer, Now now, PacketSink& sink) {
  while (auto expired = peer.timers.TakeExpired(now.mono)) {
    switch (*expired) {
      case PeerTimers::Expired::kRetransmitHandshake:
        if (peer.timers.handshake_attempts() > kMaxTimerHandshakes) {
          // REKEY_ATTEMPT_TIME is over: drop what waited for this session and
          // stop trying until something new is sent.
          peer.timers.OnHandshakeGivenUp(now.mono);
          peer.staged.Clear();
          // The first initiation and every retry: kMaxTimerHandshakes + 2.
          Report(sink, EngineEvent::kHandshakeGivenUp, peer,
                 peer.timers.handshake_attempts() + 1);
        } else {
          peer.timers.CountHandshakeAttempt();
          Report(sink, EngineEvent::kHandshakeRetry, peer,
                 peer.timers.handshake_attempts() + 1);
          // The sticky source address may be what breaks the path.
          if (peer.endpoint) peer.endpoint->local.reset();
          SendHandshakeInitiation(peer, /*is_retry=*/true, now, sink);
        }
        break;
      case PeerTimers::Expired::kSendKeepalive:
        SendKeepalive(peer, now, sink);
        peer.timers.AfterKeepaliveExpired(now.mono);
        break;
      case PeerTimers::Expired::kNewHandshake:
        // Data went out and nothing came back for KEEPALIVE + REKEY_TIMEOUT.
        Report(sink, EngineEvent::kHandshakeAfterSilence, peer);
        if (peer.endpoint) peer.endpoint->local.reset();
        SendHandshakeInitiation(peer, /*is_retry=*/false, now, sink);
        break;
      case PeerTimers::Expired::kZeroKeyMaterial:
        peer.ZeroAndFlushAll(indices);
        Report(sink, EngineEvent::kKeysZeroed, peer);
        break;
      case PeerTimers::Expired::kPersistentKeepalive:
        if (peer.persistent_keepalive_interval > 0)
          SendKeepalive(peer, now, sink);
        break;
    }
  }
}

PeerSnapshot Engine::Impl::MakeSnapshot(const Peer& peer) const {
  PeerSnapshot s;
  s.id = peer.id;
  s.public_key = peer.identity.public_key;
  s.preshared_key = peer.identity.preshared_key;
  if (peer.endpoint) s.endpoint = peer.endpoint->remote;
  s.persistent_keepalive_interval = peer.persistent_keepalive_interval;
  allowed_ips.ForEach(
      peer.id, [&s](const Cidr& prefix) { s.allowed_ips.push_back(prefix); });
  s.last_handshake = peer.last_handshake;
  s.rx_bytes = peer.rx_bytes;
  s.tx_bytes = peer.tx_bytes;
  s.drops = peer.drops;
  return s;
}

// --- Engine ---

Engine::Engine(EngineOptions options, crypto::Rng& rng)
    : impl_(std::make_unique<Impl>(options, rng)) {}

Engine::~Engine() = default;  // every secret wipes itself

Result<void> Engine::SetPrivateKey(const std::optional<crypto::PrivateKey>& key,
                                   Now now) {
  (void)now;
  Impl& s = *impl_;
  const bool clear = !key || key->IsZero();
  std::shared_ptr<LocalStatic> local;
  if (!clear) {
    // The X25519 before the lock.
    auto pub = crypto::DerivePublicKey(*key);
    if (!pub.ok()) return pub.error().Wrap("deriving the public key");
    local = std::make_shared<LocalStatic>();
    local->private_key = *key;
    local->public_key = pub.value();
  }

  MutexLock lock(s.mu);
  if (clear && !s.local) return Ok();
  if (!clear && s.local && s.local->private_key == *key) return Ok();
  // A peer with our own public key would be a conversation with ourselves.
  if (local) {
    if (Peer* self = s.FindPeer(local->public_key)) s.ErasePeer(*self);
  }
  s.local = std::move(local);
  s.cookie_checker.SetLocalPublicKey(s.local ? s.local->public_key
                                             : crypto::PublicKey());

  // Sessions made under the old identity are void; the next packet starts
  // a handshake under the new one at once. A handshake running without the
  // lock sees `local` changed and drops its message.
  for (auto& [id, peer] : s.peers) {
    s.PrecomputeStaticStatic(*peer);
    peer->keypairs.Clear(s.indices);
    peer->ClearHandshake(s.indices);
    peer->AbandonResponse(s.indices);
    peer->handshake.last_sent_handshake.reset();
  }
  s.aead_pool.WipeIdle();
  return Ok();
}

void Engine::SetMtu(size_t mtu) {
  MutexLock lock(impl_->mu);
  impl_->mtu = mtu;
}

std::optional<crypto::PublicKey> Engine::public_key() const {
  MutexLock lock(impl_->mu);
  if (!impl_->local) return std::nullopt;
  return impl_->local->public_key;
}

Result<void> Engine::ApplyPeerUpdate(const PeerUpdate& update, Now now,
                                     PacketSink& sink) {
  if (update.remove) {
    RemovePeer(update.public_key);
    return Ok();
  }
  Impl& s = *impl_;
  MutexLock lock(s.mu);
  // Ignored like wireguard-go does: a peer with our own key.
  if (s.local && update.public_key == s.local->public_key) return Ok();

  Peer* peer = s.FindPeer(update.public_key);
  if (peer == nullptr) {
    if (update.update_only) return Ok();
    if (s.peers.size() >= kMaxPeers) {
      return MakeError(
          EINVAL, "too many peers (at most " + std::to_string(kMaxPeers) + ")");
    }
    peer = s.FindPeer(s.CreatePeer(update.public_key));
  }
  if (update.preshared_key)
    peer->identity.preshared_key = *update.preshared_key;
  if (update.endpoint) peer->endpoint = Path{*update.endpoint, std::nullopt};
  if (update.replace_allowed_ips) s.allowed_ips.RemoveByPeer(peer->id);
  std::optional<Error> full;
  for (const Cidr& prefix : update.allowed_ips) {
    // A prefix already in the table only changes owner.
    if (s.allowed_ips.size() >= s.options.max_allowed_ips &&
        !s.allowed_ips.Contains(prefix)) {
      full = MakeError(ENOSPC, "too many allowed IPs (at most " +
                                   std::to_string(s.options.max_allowed_ips) +
                                   ")");
      break;
    }
    s.allowed_ips.Insert(prefix, peer->id);
  }

  bool keepalive_turned_on = false;
  if (update.persistent_keepalive_interval) {
    keepalive_turned_on = peer->persistent_keepalive_interval == 0 &&
                          *update.persistent_keepalive_interval != 0;
    peer->persistent_keepalive_interval = *update.persistent_keepalive_interval;
  }
  if (keepalive_turned_on && peer->endpoint) s.SendKeepalive(*peer, now, sink);
  s.SendStagedPackets(*peer, now, sink);
  if (full) return *full;
  return Ok();
}

void Engine::RemovePeer(const crypto::PublicKey& key) {
  MutexLock lock(impl_->mu);
  if (Peer* peer = impl_->FindPeer(key)) impl_->ErasePeer(*peer);
}

void Engine::RemoveAllPeers() { RemovePeersUpTo(SIZE_MAX); }

size_t Engine::RemovePeersUpTo(size_t max) {
  MutexLock lock(impl_->mu);
  for (; max > 0 && !impl_->peers.empty(); --max) {
    impl_->ErasePeer(*impl_->peers.begin()->second);
  }
  return impl_->peers.size();
}

void Engine::Tick(Now now, PacketSink& sink) {
  MutexLock lock(impl_->mu);
  for (auto& [id, peer] : impl_->peers) impl_->TickPeer(*peer, now, sink);
  // Keys leave a keypair in many places (expiry, rotation, zeroing); the
  // transport contexts' copies of the last ones used live until the next
  // tick at most (a context on loan now: until its call ends). Re-keying a
  // context costs about one packet's work, every 100 ms; the next packet
  // re-keys it anyway.
  impl_->aead_pool.WipeIdle();
}

std::vector<PeerSnapshot> Engine::Snapshot() const {
  MutexLock lock(impl_->mu);
  std::vector<PeerSnapshot> out;
  out.reserve(impl_->peers.size());
  for (const auto& [id, peer] : impl_->peers)
    out.push_back(impl_->MakeSnapshot(*peer));
  std::sort(
      out.begin(), out.end(),
      [](const PeerSnapshot& a, const PeerSnapshot& b) { return a.id < b.id; });
  return out;
}

std::optional<PeerSnapshot> Engine::SnapshotPeer(
    const crypto::PublicKey& key) const {
  MutexLock lock(impl_->mu);
  const Peer* peer = impl_->FindPeer(key);
  if (peer == nullptr) return std::nullopt;
  return impl_->MakeSnapshot(*peer);
}

PeerId Engine::FindPeerId(const crypto::PublicKey& key) const {
  MutexLock lock(impl_->mu);
  const Peer* peer = impl_->FindPeer(key);
  return peer != nullptr ? peer->id : kNoPeer;
}

// A copy made now: the live counters change under the lock. Callers read it
// from one thread at a time (see engine.h).
const DropCounters& Engine::interface_drops() const {
  MutexLock lock(impl_->mu);
  impl_->interface_drops_view = impl_->interface_drops;
  return impl_->interface_drops_view;
}

size_t Engine::peer_count() const {
  MutexLock lock(impl_->mu);
  return impl_->peers.size();
}

void Engine::SetSendCounterForTesting(const crypto::PublicKey& key,
                                      uint64_t counter) {
  MutexLock lock(impl_->mu);
  Peer* peer = impl_->FindPeer(key);
  if (peer != nullptr && peer->keypairs.current() != nullptr) {
    peer->keypairs.current()->send_counter = counter;
  }
}

bool Engine::AeadContextHoldsKeyForTesting() {
  return impl_->aead_pool.AnyHoldsKeyForTesting();
}

bool Engine::HasKeyMaterialForTesting(const crypto::PublicKey& key) const {
  MutexLock lock(impl_->mu);
  const Peer* peer = impl_->FindPeer(key);
  return peer != nullptr && peer->HasKeyMaterial();
}

}  // namespace zl::wg
