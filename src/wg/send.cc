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

size_t Engine::Impl::SealTransport(Keypair& keypair, ByteSpan packet,
                                   MutableByteSpan out) {
  const size_t room = out.size() - kTransportHeaderSize - crypto::kAeadTagLen;
  const size_t padded = PaddedLength(packet.size(), room, mtu);
  uint8_t* body = out.data() + kTransportHeaderSize;
  if (packet.data() != body && !packet.empty()) {
    std::memmove(body, packet.data(), packet.size());
  }
  std::memset(body + packet.size(), 0, padded - packet.size());

  const uint64_t counter = keypair.send_counter++;
  SerializeTransportHeader(TransportHeader{keypair.remote_index, counter},
                           out.data());
  if (!aead.Seal(keypair.send_key, counter, ByteSpan(), ByteSpan(body, padded),
                 MutableByteSpan(body, padded + crypto::kAeadTagLen))) {
    return 0;
  }
  return kTransportHeaderSize + padded + crypto::kAeadTagLen;
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
  while (!peer.staged.empty() && keypair->CanSend(now.mono)) {
    const ByteSpan packet = peer.staged.Front();
    const size_t needed = packet.size() + kMaxTransportOverhead;
    if (scratch.size() < needed) scratch.resize(needed);
    const size_t length =
        SealTransport(*keypair, packet, MutableByteSpan(scratch));
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
  Keypair& installed = *keypair;
  indices.Replace(local_index, {peer.id, IndexTable::Entry::Kind::kKeypair});
  if (initiator) {
    peer.keypairs.InstallAsInitiator(std::move(keypair), indices);
  } else {
    peer.keypairs.InstallAsResponder(std::move(keypair), indices);
  }
  return installed;
}

bool Engine::Impl::SendHandshakeResponse(Peer& peer,
                                         const ConsumedInitiation& init,
                                         Now now, PacketSink& sink) {
  peer.handshake.last_sent_handshake = now.mono;
  // Answering abandons an initiation of ours still in flight (the handshake
  // state is one per peer, as in the kernel and wireguard-go); a
  // simultaneous start converges on the retransmission.
  peer.ClearHandshake(indices);
  const uint32_t index =
      indices.Allocate(rng, {peer.id, IndexTable::Entry::Kind::kHandshake});
  Response msg;
  SessionKeys keys;
  if (!CreateResponse(init, peer.identity, index, rng, msg, keys).ok()) {
    indices.Erase(index);
    return false;
  }
  uint8_t packet[kResponseSize];
  SerializeResponse(msg, packet);
  peer.cookies.AddMacs(MutableByteSpan(packet), now.mono);

  BeginSymmetricSession(peer, keys, /*initiator=*/false, index,
                        init.initiator_index, now);
  peer.timers.OnSessionDerived(now.mono);
  peer.timers.OnAnyAuthenticatedPacketTraversal(
      now.mono, peer.persistent_keepalive_interval);
  peer.timers.OnAnyAuthenticatedPacketSent();
  SendToPeer(peer, ByteSpan(packet), sink);
  Report(sink, EngineEvent::kHandshakeResponseSent, peer);
  Report(sink, EngineEvent::kKeypairCreated, peer);
  return true;
}

EncapsulateResult Engine::Encapsulate(ByteSpan packet, MutableByteSpan out,
                                      Now now, PacketSink& sink) {
  Impl& s = *impl_;
  EncapsulateResult result;
  IpPacketInfo ip;
  if (!InspectIpPacket(packet, ip) ||
      out.size() < packet.size() + kTransportHeaderSize + crypto::kAeadTagLen) {
    result.drop = DropReason::kInvalidPacket;
    s.CountDrop(nullptr, result.drop);
    return result;
  }
  result.peer = s.allowed_ips.Lookup(ip.family, ip.destination);
  Peer* peer = s.FindPeer(result.peer);
  if (peer == nullptr) {
    result.peer = kNoPeer;
    result.drop = DropReason::kNoRoute;
    s.CountDrop(nullptr, result.drop);
    return result;
  }
  if (!s.local) {
    result.drop = DropReason::kNoPrivateKey;
    s.CountDrop(peer, result.drop);
    return result;
  }
  if (!peer->endpoint) {
    result.drop = DropReason::kNoEndpoint;
    s.CountDrop(peer, result.drop);
    return result;
  }

  Keypair* keypair = peer->keypairs.current();
  if (keypair != nullptr && keypair->CanSend(now.mono)) {
    // Whatever waited goes first, to keep the peer's packets in order.
    if (!peer->staged.empty()) s.SendStagedPackets(*peer, now, sink);
    keypair = peer->keypairs.current();
  }
  if (keypair == nullptr || !keypair->CanSend(now.mono) ||
      !peer->staged.empty()) {
    if (peer->staged.Push(packet)) s.CountDrop(peer, DropReason::kQueueFull);
    s.SendStagedPackets(*peer, now, sink);
    result.kind = EncapsulateResult::Kind::kQueued;
    return result;
  }

  result.length = s.SealTransport(*keypair, packet, out);
  if (result.length == 0) {
    result.drop = DropReason::kInvalidPacket;
    s.CountDrop(peer, result.drop);
    return result;
  }
  result.kind = EncapsulateResult::Kind::kSent;
  result.to = *peer->endpoint;
  peer->tx_bytes += result.length;
  s.OnTransportSent(*peer, /*data=*/true, now);
  s.KeepKeyFreshSending(*peer, now, sink);
  return result;
}

}  // namespace zl::wg
