// The inbound path (the kernel's receive.c, wireguard-go's
// device/receive.go): handshake messages, cookie replies and transport data.

#include "crypto/tai64n.h"
#include "wg/engine_impl.h"
#include "wg/messages.h"
#include "wg/packet.h"

namespace zl::wg {

DecapsulateResult Engine::Impl::Drop(Peer* peer, DropReason reason) {
  CountDrop(peer, reason);
  DecapsulateResult result;
  result.drop = reason;
  result.peer = peer != nullptr ? peer->id : kNoPeer;
  return result;
}

bool Engine::Impl::IsUnderLoad(MonoTime now) {
  if (!load_window_start || now - *load_window_start >= kUnderLoadWindow) {
    load_window_start = now;
    load_window_count = 0;
  }
  if (++load_window_count > options.under_load_handshakes_per_second) {
    under_load_until = now + kUnderLoadAfterTime;
  }
  return under_load_until && now < *under_load_until;
}

std::optional<DecapsulateResult> Engine::Impl::ScreenHandshake(
    const Path& from, ByteSpan datagram, Now now, PacketSink& sink) {
  const bool under_load = IsUnderLoad(now.mono);
  if (!local) return Drop(nullptr, DropReason::kNoPrivateKey);
  // Shed a flood from few sources before it costs any cryptography: one core
  // cannot check mac1 and answer cookie replies at the rate one core can send
  // them. Fixed buckets, so no flood can fill a table and lock others out.
  if (under_load && !flood_shedder.Allow(from.remote.address(), now.mono)) {
    return Drop(nullptr, DropReason::kRateLimited);
  }

  // mac1 and mac2 are keyed BLAKE2s: cheap enough to check under the lock.
  const CookieChecker::Verdict verdict =
      cookie_checker.Check(datagram, from.remote, now.mono);
  if (verdict == CookieChecker::Verdict::kInvalidMac1) {
    return Drop(nullptr, DropReason::kInvalidMac1);
  }
  if (under_load) {
    if (verdict != CookieChecker::Verdict::kValidMac2) {
      // The sender must prove it owns its address before we spend a DH on it.
      // The sender index is at the same offset in both handshake messages.
      CookieReply reply;
      cookie_checker.CreateCookieReply(datagram, LoadLe32(datagram.data() + 4),
                                       from.remote, now.mono, rng, reply);
      uint8_t packet[kCookieReplySize];
      SerializeCookieReply(reply, packet);
      sink.SendToNetwork(kNoPeer, from, ByteSpan(packet));
      EngineEventInfo info;
      info.event = EngineEvent::kCookieReplySent;
      info.remote = from.remote;
      sink.OnEvent(info);
      return Drop(nullptr, DropReason::kCookieRequired);
    }
    if (!rate_limiter.Allow(from.remote.address(), now.mono)) {
      return Drop(nullptr, DropReason::kRateLimited);
    }
  }
  return std::nullopt;
}

DecapsulateResult Engine::Impl::ReceiveHandshake(const Path& from,
                                                 MutableByteSpan datagram,
                                                 MessageType type, Now now,
                                                 PacketSink& sink) {
  {
    MutexLock lock(mu);
    if (auto screened = ScreenHandshake(from, datagram, now, sink))
      return *screened;
  }
  return type == MessageType::kInitiation
             ? ReceiveInitiation(from, datagram, now, sink)
             : ReceiveResponse(from, datagram, now, sink);
}

// Three phases: the initiation is consumed (its es DH, the static key and
// the timestamp decrypted) without the lock, on a copy of our identity and
// of the peer's; then, locked, the replay and flood checks and the
// bookkeeping; the response's DHs without it again; its keypair installed
// with it (FinishHandshakeResponse).
DecapsulateResult Engine::Impl::ReceiveInitiation(const Path& from,
                                                  ByteSpan datagram, Now now,
                                                  PacketSink& sink) {
  Initiation msg;
  std::shared_ptr<const LocalStatic> our_static;
  {
    MutexLock lock(mu);
    if (!ParseInitiation(datagram, msg))
      return Drop(nullptr, DropReason::kMalformedMessage);
    if (!local) return Drop(nullptr, DropReason::kNoPrivateKey);
    our_static = local;
  }

  // Who the decrypted static key named, to tell "unknown peer" from a failed
  // handshake with a known one; the PeerStatic is copied out for the rest.
  PeerId peer_id = kNoPeer;
  bool looked_up = false;
  PeerStatic identity;
  auto find_peer = [this, &peer_id, &looked_up, &identity](
                       const crypto::PublicKey& key) -> const PeerStatic* {
    looked_up = true;
    MutexLock lock(mu);
    const Peer* peer = FindPeer(key);
    if (peer == nullptr) return nullptr;
    peer_id = peer->id;
    if (peer->identity.precomputed_ss.IsZero()) return nullptr;
    identity = peer->identity;
    return &identity;
  };
  auto consumed = ConsumeInitiation(msg, *our_static, find_peer);

  uint32_t index = 0;
  {
    MutexLock lock(mu);
    Peer* peer = FindPeer(peer_id);
    if (!consumed.ok()) {
      if (looked_up && peer_id == kNoPeer)
        return Drop(nullptr, DropReason::kUnknownPeer);
      return Drop(peer, DropReason::kHandshakeFailed);
    }
    // Removed, or our key changed, while the initiation was consumed.
    if (peer == nullptr) return Drop(nullptr, DropReason::kUnknownPeer);
    if (local != our_static) return Drop(peer, DropReason::kHandshakeFailed);
    const ConsumedInitiation& init = consumed.value();

    // Replay and flood protection (whitepaper §5.1): the timestamp must be
    // newer than any seen from this peer, and initiations not too frequent.
    Handshake& hs = peer->handshake;
    if (!crypto::Tai64nAfter(init.timestamp, hs.greatest_timestamp)) {
      return Drop(peer, DropReason::kReplayedInitiation);
    }
    if (hs.last_initiation_consumed &&
        now.mono - *hs.last_initiation_consumed <= kHandshakeInitiationRate) {
      return Drop(peer, DropReason::kInitiationFlood);
    }
    hs.greatest_timestamp = init.timestamp;
    hs.last_initiation_consumed = now.mono;
    Report(sink, EngineEvent::kHandshakeInitiationReceived, *peer);

    peer->timers.OnAnyAuthenticatedPacketTraversal(
        now.mono, peer->persistent_keepalive_interval);
    peer->timers.OnAnyAuthenticatedPacketReceived();
    peer->endpoint = from;  // roaming: the last authenticated packet decides
    peer->rx_bytes += datagram.size();
    index = BeginHandshakeResponse(*peer, now);
  }

  Response response;
  SessionKeys keys;
  const bool created =
      CreateResponse(consumed.value(), identity, index, rng, response, keys)
          .ok();
  MutexLock lock(mu);
  return FinishHandshakeResponse(peer_id, index, created, response, keys,
                                 consumed.value().initiator_index, now, sink);
}

// Consumed (its ee and se DHs) without the lock, on copies of the
// initiation's state and our identity; installed only if that initiation
// is still the peer's.
DecapsulateResult Engine::Impl::ReceiveResponse(const Path& from,
                                                ByteSpan datagram, Now now,
                                                PacketSink& sink) {
  Response msg;
  std::shared_ptr<const LocalStatic> our_static;
  PeerStatic identity;
  InitiatorState state;
  uint64_t generation = 0;
  PeerId peer_id = kNoPeer;
  {
    MutexLock lock(mu);
    if (!ParseResponse(datagram, msg))
      return Drop(nullptr, DropReason::kMalformedMessage);
    const IndexTable::Entry* entry = indices.Find(msg.receiver_index);
    Peer* peer = entry != nullptr ? FindPeer(entry->peer) : nullptr;
    if (peer == nullptr || entry->kind != IndexTable::Entry::Kind::kHandshake ||
        !peer->handshake.initiator ||
        peer->handshake.initiator->sender_index != msg.receiver_index) {
      return Drop(nullptr, DropReason::kUnknownIndex);
    }
    if (!local) return Drop(nullptr, DropReason::kNoPrivateKey);
    our_static = local;
    identity = peer->identity;
    state = *peer->handshake.initiator;
    generation = peer->handshake.initiator_generation;
    peer_id = peer->id;
  }

  SessionKeys keys;
  const bool consumed =
      ConsumeResponse(msg, *our_static, identity, state, keys).ok();

  MutexLock lock(mu);
  Peer* peer = FindPeer(peer_id);
  if (!consumed) return Drop(peer, DropReason::kHandshakeFailed);
  // The initiation it answers was replaced, abandoned or voided meanwhile:
  // as if the response had come a moment later.
  if (peer == nullptr || !peer->handshake.initiator ||
      peer->handshake.initiator_generation != generation ||
      local != our_static) {
    return Drop(nullptr, DropReason::kUnknownIndex);
  }
  Report(sink, EngineEvent::kHandshakeResponseReceived, *peer);
  peer->endpoint = from;
  peer->rx_bytes += datagram.size();
  peer->timers.OnAnyAuthenticatedPacketTraversal(
      now.mono, peer->persistent_keepalive_interval);
  peer->timers.OnAnyAuthenticatedPacketReceived();

  // The handshake's index now names the keypair.
  peer->handshake.initiator.reset();
  BeginSymmetricSession(*peer, keys, /*initiator=*/true, msg.receiver_index,
                        msg.sender_index, now);
  peer->timers.OnSessionDerived(now.mono);
  peer->timers.OnHandshakeComplete();
  peer->last_handshake = now.wall;
  Report(sink, EngineEvent::kKeypairCreated, *peer);
  Report(sink, EngineEvent::kHandshakeCompleted, *peer);
  // Key confirmation for the responder: staged packets, or a keepalive.
  SendKeepalive(*peer, now, sink);

  DecapsulateResult result;
  result.kind = DecapsulateResult::Kind::kHandshake;
  result.peer = peer->id;
  return result;
}

DecapsulateResult Engine::Impl::ReceiveCookieReply(ByteSpan datagram, Now now,
                                                   PacketSink& sink) {
  CookieReply reply;
  if (!ParseCookieReply(datagram, reply))
    return Drop(nullptr, DropReason::kMalformedMessage);
  const IndexTable::Entry* entry = indices.Find(reply.receiver_index);
  Peer* peer = entry != nullptr ? FindPeer(entry->peer) : nullptr;
  if (peer == nullptr) return Drop(nullptr, DropReason::kUnknownIndex);
  if (!peer->cookies.ConsumeCookieReply(reply, now.mono)) {
    return Drop(peer, DropReason::kInvalidCookieReply);
  }
  Report(sink, EngineEvent::kCookieReplyReceived, *peer);
  DecapsulateResult result;
  result.kind = DecapsulateResult::Kind::kHandshake;
  result.peer = peer->id;
  return result;
}

void Engine::Impl::KeepKeyFreshReceiving(Peer& peer, Now now,
                                         PacketSink& sink) {
  if (peer.timers.sent_last_minute_handshake()) return;
  const Keypair* keypair = peer.keypairs.current();
  if (keypair != nullptr && keypair->initiator &&
      now.mono - keypair->created >
          kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout) {
    peer.timers.set_sent_last_minute_handshake();
    SendHandshakeInitiation(peer, /*is_retry=*/false, now, sink);
  }
}

std::optional<DecapsulateResult> Engine::Impl::PrepareOpen(
    const TransportHeader& header, Now now, OpenJob& job) {
  const IndexTable::Entry* entry = indices.Find(header.receiver_index);
  if (entry == nullptr || entry->kind != IndexTable::Entry::Kind::kKeypair) {
    return Drop(nullptr, DropReason::kUnknownIndex);
  }
  Peer* peer = FindPeer(entry->peer);
  Keypair* keypair =
      peer != nullptr ? peer->keypairs.Find(header.receiver_index) : nullptr;
  if (keypair == nullptr) return Drop(nullptr, DropReason::kUnknownIndex);
  if (keypair->ReceiveExpired(now.mono))
    return Drop(peer, DropReason::kKeypairExpired);
  // No decryption for a counter already seen or too old; a forged packet
  // cannot get past this without being authentic, and marks nothing.
  if (!keypair->replay.MayAccept(header.counter, kRejectAfterMessages))
    return Drop(peer, DropReason::kReplayedCounter);
  job.key = keypair->receive_key;
  job.peer = peer->id;
  job.keypair_generation = keypair->generation;
  return std::nullopt;
}

DecapsulateResult Engine::Impl::FinishReceiveTransport(
    const Path& from, MutableByteSpan datagram, const TransportHeader& header,
    bool opened, const OpenJob& job, Now now, PacketSink& sink) {
  Peer* peer = FindPeer(job.peer);
  if (!opened) return Drop(peer, DropReason::kDecryptFailed);
  // The keypair left (rotation, expiry, zeroing, removal) while the packet
  // was opened: as if the packet had come a moment later.
  Keypair* keypair =
      peer != nullptr ? peer->keypairs.Find(header.receiver_index) : nullptr;
  if (keypair == nullptr || keypair->generation != job.keypair_generation)
    return Drop(nullptr, DropReason::kUnknownIndex);
  // Only now that the packet is authentic may it move the window; another
  // thread may have accepted the same counter since the pre-check.
  if (!keypair->replay.Accept(header.counter, kRejectAfterMessages)) {
    return Drop(peer, DropReason::kReplayedCounter);
  }

  const MutableByteSpan plaintext = datagram.subspan(
      kTransportHeaderSize,
      datagram.size() - kTransportHeaderSize - crypto::kAeadTagLen);
  peer->endpoint = from;
  peer->rx_bytes += datagram.size();
  if (peer->keypairs.ConfirmOnReceive(keypair, indices)) {
    // The initiator proved it holds the responder's new keypair.
    peer->timers.OnHandshakeComplete();
    peer->last_handshake = now.wall;
    Report(sink, EngineEvent::kHandshakeCompleted, *peer);
    SendStagedPackets(*peer, now, sink);
  }
  KeepKeyFreshReceiving(*peer, now, sink);
  peer->timers.OnAnyAuthenticatedPacketTraversal(
      now.mono, peer->persistent_keepalive_interval);
  peer->timers.OnAnyAuthenticatedPacketReceived();

  DecapsulateResult result;
  result.peer = peer->id;
  if (plaintext.empty()) {
    result.kind = DecapsulateResult::Kind::kKeepalive;
    return result;
  }
  peer->timers.OnDataReceived(now.mono);

  IpPacketInfo ip;
  if (!InspectIpPacket(plaintext, ip))
    return Drop(peer, DropReason::kInvalidPacket);
  if (allowed_ips.Lookup(ip.family, ip.source) != peer->id) {
    return Drop(peer, DropReason::kSourceNotAllowed);
  }
  result.kind = DecapsulateResult::Kind::kDeliver;
  result.packet = plaintext.first(ip.length);  // without the padding
  return result;
}

// Locked, unlocked, locked: the keypair is looked up and the replay window
// pre-checked, the packet opened in place on a copy of the key, and the
// keypair found again (by index and generation) for the bookkeeping.
DecapsulateResult Engine::Impl::ReceiveTransport(const Path& from,
                                                 MutableByteSpan datagram,
                                                 Now now, PacketSink& sink) {
  TransportHeader header;
  OpenJob job;
  {
    MutexLock lock(mu);
    if (!ParseTransportHeader(datagram, header)) {
      return Drop(nullptr, DropReason::kMalformedMessage);
    }
    if (auto dropped = PrepareOpen(header, now, job)) return *dropped;
  }
  const MutableByteSpan body = datagram.subspan(kTransportHeaderSize);
  bool opened = false;
  {
    AeadPool::Lease lease = aead_pool.Take();
    opened = lease.aead().Open(job.key, header.counter, ByteSpan(), body,
                               body.first(body.size() - crypto::kAeadTagLen));
  }
  job.key.Wipe();
  MutexLock lock(mu);
  return FinishReceiveTransport(from, datagram, header, opened, job, now,
                                sink);
}

DecapsulateResult Engine::Decapsulate(const Path& from,
                                      MutableByteSpan datagram, Now now,
                                      PacketSink& sink) {
  Impl& s = *impl_;
  const std::optional<MessageType> type = ClassifyMessage(datagram);
  if (type == MessageType::kTransportData) {
    return s.ReceiveTransport(from, datagram, now, sink);
  }
  if (type == MessageType::kInitiation || type == MessageType::kResponse) {
    return s.ReceiveHandshake(from, datagram, *type, now, sink);
  }
  MutexLock lock(s.mu);
  if (type == MessageType::kCookieReply) {
    return s.ReceiveCookieReply(datagram, now, sink);
  }
  return s.Drop(nullptr, DropReason::kMalformedMessage);
}

}  // namespace zl::wg
