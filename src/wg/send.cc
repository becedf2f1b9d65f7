// The outbound path (the kernel's send.c, wireguard-go's device/send.go):
// transport data, staged packets, keepalives and the handshake messages we
// send.

#include <algorithm>
#include <cstring>

#include "crypto/tai64n.h"
#include "wg/engine_impl.h"
#include "wg/messages.h"
#include "wg/packet.h"

namespace zl::wg {
namespace {

// Pads to a multiple of 16 (whitepaper §5.4.6), but never past the MTU (as
// the kernel does: a full-size packet must still fit the underlay) nor past
// the room the caller's buffer has.
size_t PaddedLength(size_t length, size_t room, size_t mtu) {
  const size_t padded =
      (length + kPaddingMultiple - 1) / kPaddingMultiple * kPaddingMultiple;
  return std::min(padded, std::max(std::min(room, mtu), length));
}

}  // namespace

size_t SealTransport(crypto::ChaChaPoly& aead, const SealJob& job,
                     ByteSpan packet, MutableByteSpan out) {
  uint8_t* body = out.data() + kTransportHeaderSize;
  if (packet.data() != body && !packet.empty()) {
    std::memmove(body, packet.data(), packet.size());
  }
  std::memset(body + packet.size(), 0, job.padded - packet.size());
  SerializeTransportHeader(TransportHeader{job.remote_index, job.counter},
                           out.data());
  if (!aead.Seal(job.key, job.counter, ByteSpan(), ByteSpan(body, job.padded),
                 MutableByteSpan(body, job.padded + crypto::kAeadTagLen))) {
    return 0;
  }
  return job.length();
}

SealJob Engine::Impl::ReserveSeal(Keypair& keypair, size_t size, size_t room) {
  SealJob job;
  job.key = keypair.send_key;
  job.remote_index = keypair.remote_index;
  job.counter = keypair.send_counter++;
  job.padded = PaddedLength(
      size, room - kTransportHeaderSize - crypto::kAeadTagLen, mtu);
  return job;
}

void Engine::Impl::SendToPeer(Peer& peer, ByteSpan datagram, PacketSink& sink) {
  if (!peer.endpoint) return;
  peer.tx_bytes += datagram.size();
  sink.SendToNetwork(peer.id, *peer.endpoint, datagram);
}

void Engine::Impl::OnTransportSent(Peer& peer, bool data, Now now) {
  peer.timers.OnAnyAuthenticatedPacketTraversal(
      now.mono, peer.persistent_keepalive_interval);
  peer.timers.OnAnyAuthenticatedPacketSent();
  if (data) peer.timers.OnDataSent(now.mono, jitter);
}

void Engine::Impl::SendStagedPackets(Peer& peer, Now now, PacketSink& sink) {
  if (peer.staged.empty() || !peer.endpoint) return;
  Keypair* keypair = peer.keypairs.current();
  if (keypair == nullptr || !keypair->CanSend(now.mono)) {
    SendHandshakeInitiation(peer, /*is_retry=*/false, now, sink);
    return;
  }
  bool data_sent = false;
  bool keepalive_sent = false;
  bool sent = false;
  // Sealed under the lock: staged packets are few and go out in order.
  AeadPool::Lease lease = aead_pool.Take();
  while (!peer.staged.empty() && keypair->CanSend(now.mono)) {
    const ByteSpan packet = peer.staged.Front();
    const size_t needed = packet.size() + kMaxTransportOverhead;
    if (scratch.size() < needed) scratch.resize(needed);
    const SealJob job = ReserveSeal(*keypair, packet.size(), scratch.size());
    const size_t length =
        SealTransport(lease.aead(), job, packet, MutableByteSpan(scratch));
    const bool keepalive = packet.empty();
    data_sent |= !keepalive;
    peer.staged.Pop();
    if (length == 0) continue;
    keepalive_sent |= keepalive;
    SendToPeer(peer, ByteSpan(scratch.data(), length), sink);
    sent = true;
  }
  if (sent) OnTransportSent(peer, data_sent, now);
  if (keepalive_sent) Report(sink, EngineEvent::kKeepaliveSent, peer);
  if (!peer.staged.empty()) {
    // The keypair ran out of messages half way.
    SendHandshakeInitiation(peer, /*is_retry=*/false, now, sink);
  }
  KeepKeyFreshSending(peer, now, sink);
}

void Engine::Impl::SendKeepalive(Peer& peer, Now now, PacketSink& sink) {
  if (peer.staged.empty()) peer.staged.Push(ByteSpan());
  SendStagedPackets(peer, now, sink);
}

void Engine::Impl::KeepKeyFreshSending(Peer& peer, Now now, PacketSink& sink) {
  const Keypair* keypair = peer.keypairs.current();
  if (keypair == nullptr) return;
  if (keypair->send_counter > kRekeyAfterMessages ||
      (keypair->initiator && now.mono - keypair->created > kRekeyAfterTime)) {
    SendHandshakeInitiation(peer, /*is_retry=*/false, now, sink);
  }
}

void Engine::Impl::SendHandshakeInitiation(Peer& peer, bool is_retry, Now now,
                                           PacketSink& sink) {
  if (!is_retry) peer.timers.ResetHandshakeAttempts();
  if (!local || !peer.endpoint) return;
  std::optional<MonoTime>& last = peer.handshake.last_sent_handshake;
  if (last && now.mono - *last < kRekeyTimeout) return;  // rate limited
  last = now.mono;

  peer.ClearHandshake(indices);
  const uint32_t index =
      indices.Allocate(rng, {peer.id, IndexTable::Entry::Kind::kHandshake});
  Initiation msg;
  InitiatorState state;
  if (!CreateInitiation(*local, peer.identity, index,
                        crypto::MakeTai64n(now.wall), rng, msg, state)
           .ok()) {
    indices.Erase(index);
    return;
  }
  peer.handshake.initiator = std::move(state);
  peer.handshake.initiator_generation = NextGeneration();

  uint8_t packet[kInitiationSize];
  SerializeInitiation(msg, packet);
  peer.cookies.AddMacs(MutableByteSpan(packet), now.mono);

  peer.timers.OnAnyAuthenticatedPacketTraversal(
      now.mono, peer.persistent_keepalive_interval);
  peer.timers.OnAnyAuthenticatedPacketSent();
  SendToPeer(peer, ByteSpan(packet), sink);
  peer.timers.OnHandshakeInitiated(now.mono, jitter);
  Report(sink, EngineEvent::kHandshakeInitiationSent, peer,
         peer.timers.handshake_attempts() + 1);
}

Keypair& Engine::Impl::BeginSymmetricSession(Peer& peer, SessionKeys& keys,
                                             bool initiator,
                                             uint32_t local_index,
                                             uint32_t remote_index, Now now) {
  auto keypair = std::make_unique<Keypair>();
  keypair->send_key = std::move(keys.send);
  keypair->receive_key = std::move(keys.receive);
  keypair->initiator = initiator;
  keypair->created = now.mono;
  keypair->local_index = local_index;
  keypair->remote_index = remote_index;
  keypair->generation = NextGeneration();
  Keypair& installed = *keypair;
  indices.Replace(local_index, {peer.id, IndexTable::Entry::Kind::kKeypair});
  if (initiator) {
    peer.keypairs.InstallAsInitiator(std::move(keypair), indices);
  } else {
    peer.keypairs.InstallAsResponder(std::move(keypair), indices);
  }
  return installed;
}

uint32_t Engine::Impl::BeginHandshakeResponse(Peer& peer, Now now) {
  peer.handshake.last_sent_handshake = now.mono;
  // Answering abandons an initiation of ours still in flight (the handshake
  // state is one per peer, as in the kernel and wireguard-go); a
  // simultaneous start converges on the retransmission. It abandons too a
  // response to an earlier initiation still being made by another thread.
  peer.ClearHandshake(indices);
  peer.AbandonResponse(indices);
  const uint32_t index =
      indices.Allocate(rng, {peer.id, IndexTable::Entry::Kind::kHandshake});
  peer.handshake.responding_index = index;
  return index;
}

DecapsulateResult Engine::Impl::FinishHandshakeResponse(
    PeerId peer_id, uint32_t index, bool created, Response& msg,
    SessionKeys& keys, uint32_t initiator_index, Now now, PacketSink& sink) {
  Peer* peer = FindPeer(peer_id);
  // Removed, re-keyed (SetPrivateKey) or answering a newer initiation
  // meanwhile: whatever replaced the response erased its index.
  if (peer == nullptr) return Drop(nullptr, DropReason::kUnknownPeer);
  if (peer->handshake.responding_index != index) {
    return Drop(peer, DropReason::kHandshakeFailed);
  }
  peer->handshake.responding_index.reset();
  if (!created) {
    indices.Erase(index);
    return Drop(peer, DropReason::kHandshakeFailed);
  }
  uint8_t packet[kResponseSize];
  SerializeResponse(msg, packet);
  peer->cookies.AddMacs(MutableByteSpan(packet), now.mono);

  BeginSymmetricSession(*peer, keys, /*initiator=*/false, index,
                        initiator_index, now);
  peer->timers.OnSessionDerived(now.mono);
  peer->timers.OnAnyAuthenticatedPacketTraversal(
      now.mono, peer->persistent_keepalive_interval);
  peer->timers.OnAnyAuthenticatedPacketSent();
  SendToPeer(*peer, ByteSpan(packet), sink);
  Report(sink, EngineEvent::kHandshakeResponseSent, *peer);
  Report(sink, EngineEvent::kKeypairCreated, *peer);
  DecapsulateResult result;
  result.kind = DecapsulateResult::Kind::kHandshake;
  result.peer = peer->id;
  return result;
}

EncapsulateResult Engine::Impl::PrepareEncapsulate(ByteSpan packet,
                                                   MutableByteSpan out,
                                                   Now now, PacketSink& sink,
                                                   SealJob& job) {
  EncapsulateResult result;
  IpPacketInfo ip;
  if (!InspectIpPacket(packet, ip) ||
      out.size() < packet.size() + kTransportHeaderSize + crypto::kAeadTagLen) {
    result.drop = DropReason::kInvalidPacket;
    CountDrop(nullptr, result.drop);
    return result;
  }
  result.peer = allowed_ips.Lookup(ip.family, ip.destination);
  Peer* peer = FindPeer(result.peer);
  if (peer == nullptr) {
    result.peer = kNoPeer;
    result.drop = DropReason::kNoRoute;
    CountDrop(nullptr, result.drop);
    return result;
  }
  if (!local) {
    result.drop = DropReason::kNoPrivateKey;
    CountDrop(peer, result.drop);
    return result;
  }
  if (!peer->endpoint) {
    result.drop = DropReason::kNoEndpoint;
    CountDrop(peer, result.drop);
    return result;
  }

  Keypair* keypair = peer->keypairs.current();
  if (keypair != nullptr && keypair->CanSend(now.mono)) {
    // Whatever waited goes first, to keep the peer's packets in order.
    if (!peer->staged.empty()) SendStagedPackets(*peer, now, sink);
    keypair = peer->keypairs.current();
  }
  if (keypair == nullptr || !keypair->CanSend(now.mono) ||
      !peer->staged.empty()) {
    if (peer->staged.Push(packet)) CountDrop(peer, DropReason::kQueueFull);
    SendStagedPackets(*peer, now, sink);
    result.kind = EncapsulateResult::Kind::kQueued;
    return result;
  }

  // The counter is taken now; the seal follows without the lock.
  job = ReserveSeal(*keypair, packet.size(), out.size());
  result.kind = EncapsulateResult::Kind::kSent;
  result.length = job.length();
  result.to = *peer->endpoint;
  peer->tx_bytes += result.length;
  OnTransportSent(*peer, /*data=*/true, now);
  KeepKeyFreshSending(*peer, now, sink);
  return result;
}

EncapsulateResult Engine::Encapsulate(ByteSpan packet, MutableByteSpan out,
                                      Now now, PacketSink& sink) {
  Impl& s = *impl_;
  SealJob job;
  EncapsulateResult result;
  {
    MutexLock lock(s.mu);
    result = s.PrepareEncapsulate(packet, out, now, sink, job);
  }
  if (result.kind != EncapsulateResult::Kind::kSent) return result;
  size_t sealed = 0;
  {
    AeadPool::Lease lease = s.aead_pool.Take();
    sealed = SealTransport(lease.aead(), job, packet, out);
  }
  if (sealed != 0) return result;

  // OpenSSL failed (never seen): undo what counted it as sent; the timers
  // have run as if it went.
  MutexLock lock(s.mu);
  Peer* peer = s.FindPeer(result.peer);
  if (peer != nullptr) peer->tx_bytes -= result.length;
  s.CountDrop(peer, DropReason::kInvalidPacket);
  EncapsulateResult dropped;
  dropped.drop = DropReason::kInvalidPacket;
  dropped.peer = result.peer;
  return dropped;
}

}  // namespace zl::wg
