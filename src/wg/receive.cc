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

DecapsulateResult Engine::Impl::ReceiveHandshake(const Path& from,
                                                 MutableByteSpan datagram,
                                                 MessageType type, Now now,
                                                 PacketSink& sink) {
  const bool under_load = IsUnderLoad(now.mono);
  if (!local) return Drop(nullptr, DropReason::kNoPrivateKey);
  // Shed a flood from few sources before it costs any cryptography: one core
  // cannot check mac1 and answer cookie replies at the rate one core can send
  // them. Fixed buckets, so no flood can fill a table and lock others out.
  if (under_load && !flood_shedder.Allow(from.remote.address(), now.mono)) {
    return Drop(nullptr, DropReason::kRateLimited);
  }

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
  return type == MessageType::kInitiation
             ? ReceiveInitiation(from, datagram, now, sink)
             : ReceiveResponse(from, datagram, now, sink);
}

DecapsulateResult Engine::Impl::ReceiveInitiation(const Path& from,
                                                  ByteSpan datagram, Now now,
                                                  PacketSink& sink) {
  Initiation msg;
  if (!ParseInitiation(datagram, msg))
    return Drop(nullptr, DropReason::kMalformedMessage);

  // Who the decrypted static key named, to tell "unknown peer" from a failed
  // handshake with a known one.
  Peer* peer = nullptr;
  bool looked_up = false;
  auto find_peer = [this, &peer, &looked_up](
                       const crypto::PublicKey& key) -> const PeerStatic* {
    looked_up = true;
    peer = FindPeer(key);
    if (peer == nullptr || peer->identity.precomputed_ss.IsZero())
      return nullptr;
    return &peer->identity;
  };
  auto consumed = ConsumeInitiation(msg, *local, find_peer);
  if (!consumed.ok()) {
    if (looked_up && peer == nullptr)
      return Drop(nullptr, DropReason::kUnknownPeer);
    return Drop(peer, DropReason::kHandshakeFailed);
  }
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

  if (!SendHandshakeResponse(*peer, init, now, sink)) {
    return Drop(peer, DropReason::kHandshakeFailed);
  }
  DecapsulateResult result;
  result.kind = DecapsulateResult::Kind::kHandshake;
  result.peer = peer->id;
  return result;
}

DecapsulateResult Engine::Impl::ReceiveResponse(const Path& from,
                                                ByteSpan datagram, Now now,
                                                PacketSink& sink) {
  Response msg;
  if (!ParseResponse(datagram, msg))
    return Drop(nullptr, DropReason::kMalformedMessage);
  const IndexTable::Entry* entry = indices.Find(msg.receiver_index);
  Peer* peer = entry != nullptr ? FindPeer(entry->peer) : nullptr;
  if (peer == nullptr || entry->kind != IndexTable::Entry::Kind::kHandshake ||
      !peer->handshake.initiator ||
      peer->handshake.initiator->sender_index != msg.receiver_index) {
    return Drop(nullptr, DropReason::kUnknownIndex);
  }

  SessionKeys keys;
  if (!ConsumeResponse(msg, *local, peer->identity, *peer->handshake.initiator,
                       keys)
           .ok()) {
    return Drop(peer, DropReason::kHandshakeFailed);
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

DecapsulateResult Engine::Impl::ReceiveTransport(const Path& from,
                                                 MutableByteSpan datagram,
                                                 Now now, PacketSink& sink) {
  TransportHeader header;
  if (!ParseTransportHeader(datagram, header)) {
    return Drop(nullptr, DropReason::kMalformedMessage);
  }
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

  const MutableByteSpan body = datagram.subspan(kTransportHeaderSize);
  const MutableByteSpan plaintext =
      body.first(body.size() - crypto::kAeadTagLen);
  if (!aead.Open(keypair->receive_key, header.counter, ByteSpan(), body,
                 plaintext)) {
    return Drop(peer, DropReason::kDecryptFailed);
  }
  // Only now that the packet is authentic may it move the window.
  if (!keypair->replay.Accept(header.counter, kRejectAfterMessages)) {
    return Drop(peer, DropReason::kReplayedCounter);
  }

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

DecapsulateResult Engine::Decapsulate(const Path& from,
                                      MutableByteSpan datagram, Now now,
                                      PacketSink& sink) {
  Impl& s = *impl_;
  const std::optional<MessageType> type = ClassifyMessage(datagram);
  if (!type) return s.Drop(nullptr, DropReason::kMalformedMessage);
  switch (*type) {
    case MessageType::kTransportData:
      return s.ReceiveTransport(from, datagram, now, sink);
    case MessageType::kInitiation:
    case MessageType::kResponse:
      return s.ReceiveHandshake(from, datagram, *type, now, sink);
    case MessageType::kCookieReply:
      return s.ReceiveCookieReply(datagram, now, sink);
  }
  return s.Drop(nullptr, DropReason::kMalformedMessage);
}

}  // namespace zl::wg
