#include "wg/noise.h"

#include <cerrno>
#include <utility>

#include "wg/ikpsk2.h"
#include "wg/symmetric_state.h"

namespace zl::wg {
namespace {

ByteSpan AsBytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Ci = HASH(CONSTRUCTION), Hi = HASH(Ci || IDENTIFIER), Hi = HASH(Hi ||
// Spub_r).
void Start(SymmetricState& state, const crypto::PublicKey& responder_static) {
  IkStart(state, AsBytes(kWireGuardIdentifier), responder_static);
}

}  // namespace

Result<void> CreateInitiation(const LocalStatic& local, const PeerStatic& peer,
                              uint32_t sender_index,
                              const crypto::Tai64n& timestamp, crypto::Rng& rng,
                              Initiation& out, InitiatorState& state) {
  SymmetricState noise(kNoiseConstruction);
  Start(noise, peer.public_key);
  Initiation msg;
  msg.sender_index = sender_index;
  crypto::PrivateKey ephemeral;
  ZL_RETURN_IF_ERROR(IkWriteMessage1(
      noise, rng, local.public_key, peer.public_key, peer.precomputed_ss,
      ByteSpan(timestamp),
      IkMessage1Out{msg.unencrypted_ephemeral, msg.encrypted_static,
                    msg.encrypted_timestamp},
      ephemeral));
  out = msg;
  state.ephemeral_private = std::move(ephemeral);
  state.chaining_key = noise.chaining_key();
  state.hash = HandshakeHash(ByteSpan(noise.hash()));
  state.sender_index = sender_index;
  return Ok();
}

Result<ConsumedInitiation> ConsumeInitiation(
    const Initiation& msg, const LocalStatic& local,
    const std::function<const PeerStatic*(const crypto::PublicKey&)>&
        find_peer) {
  SymmetricState noise(kNoiseConstruction);
  Start(noise, local.public_key);
  const IkMessage1In in{msg.unencrypted_ephemeral, msg.encrypted_static,
                        msg.encrypted_timestamp};
  ConsumedInitiation result;
  ZL_RETURN_IF_ERROR(IkReadMessage1Static(noise, local.private_key, in,
                                          result.initiator_ephemeral,
                                          result.initiator_static));
  const PeerStatic* peer =
      find_peer ? find_peer(result.initiator_static) : nullptr;
  if (peer == nullptr)
    return MakeError(ENOENT, "initiation from an unknown static key");
  ZL_RETURN_IF_ERROR(IkReadMessage1Payload(noise, peer->precomputed_ss, in,
                                           MutableByteSpan(result.timestamp)));
  result.initiator_index = msg.sender_index;
  result.chaining_key = noise.chaining_key();
  result.hash = HandshakeHash(ByteSpan(noise.hash()));
  return result;
}

Result<void> CreateResponse(const ConsumedInitiation& init,
                            const PeerStatic& peer, uint32_t sender_index,
                            crypto::Rng& rng, Response& out,
                            SessionKeys& keys) {
  SymmetricState noise(init.chaining_key, init.hash.span());
  Response msg;
  msg.sender_index = sender_index;
  msg.receiver_index = init.initiator_index;
  ZL_RETURN_IF_ERROR(IkWriteMessage2(
      noise, rng, init.initiator_ephemeral, init.initiator_static,
      peer.preshared_key, ByteSpan(),
      IkMessage2Out{msg.unencrypted_ephemeral, msg.encrypted_nothing}));
  out = msg;
  // The initiator sends with the first key, so the responder receives with it.
  noise.Split(keys.receive, keys.send);
  return Ok();
}

Result<void> ConsumeResponse(const Response& msg, const LocalStatic& local,
                             const PeerStatic& peer,
                             const InitiatorState& state, SessionKeys& keys) {
  if (msg.receiver_index != state.sender_index) {
    return MakeError(EINVAL, "response is not for this handshake");
  }
  SymmetricState noise(state.chaining_key, state.hash.span());
  ZL_RETURN_IF_ERROR(IkReadMessage2(
      noise, local.private_key, state.ephemeral_private, peer.preshared_key,
      IkMessage2In{msg.unencrypted_ephemeral, msg.encrypted_nothing},
      MutableByteSpan()));
  noise.Split(keys.send, keys.receive);
  return Ok();
}

}  // namespace zl::wg
