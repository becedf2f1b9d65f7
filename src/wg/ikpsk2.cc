#include "wg/ikpsk2.h"

#include <algorithm>
#include <cerrno>

#include "crypto/x25519.h"

namespace zl::wg {
namespace {

Error AuthError(const char* what) {
  return MakeError(EBADMSG, std::string(what) + ": bad tag");
}

Error SizeError() {
  return MakeError(EINVAL, "handshake token has the wrong size");
}

// The "e" token of a psk handshake: MixHash(e.pub) and, because a psk is in
// use, MixKey(e.pub) (Noise spec §9.2).
void MixEphemeral(SymmetricState& state, ByteSpan ephemeral_public) {
  state.MixHash(ephemeral_public);
  state.MixKey(ephemeral_public);
}

// Draws an ephemeral key pair and writes its public half.
Result<crypto::PrivateKey> WriteEphemeral(SymmetricState& state,
                                          crypto::Rng& rng,
                                          MutableByteSpan out) {
  crypto::PrivateKey priv = crypto::GeneratePrivateKey(rng);
  Result<crypto::PublicKey> pub = crypto::DerivePublicKey(priv);
  if (!pub.ok()) return pub.error();
  std::copy(pub->span().begin(), pub->span().end(), out.begin());
  MixEphemeral(state, pub->span());
  return priv;
}

}  // namespace

void IkStart(SymmetricState& state, ByteSpan prologue,
             const crypto::PublicKey& responder_static) {
  state.MixHash(prologue);
  state.MixHash(responder_static.span());  // pre-message: <- s
}

Result<void> IkWriteMessage1(SymmetricState& state, crypto::Rng& rng,
                             const crypto::PublicKey& local_static,
                             const crypto::PublicKey& remote_static,
                             const crypto::SharedSecret& static_static,
                             ByteSpan payload, const IkMessage1Out& out,
                             crypto::PrivateKey& ephemeral) {
  if (out.ephemeral.size() != kDhPublicLen ||
      out.encrypted_static.size() != kEncryptedStaticLen ||
      out.encrypted_payload.size() != payload.size() + crypto::kAeadTagLen) {
    return SizeError();
  }
  /* e */
  Result<crypto::PrivateKey> e = WriteEphemeral(state, rng, out.ephemeral);
  if (!e.ok()) return e.error();
  ephemeral = std::move(*e);
  /* es */
  ZL_RETURN_IF_ERROR(state.MixDh(ephemeral, remote_static));
  /* s */
  if (!state.EncryptAndHash(local_static.span(), out.encrypted_static)) {
    return MakeError(EIO, "AEAD seal failed");
  }
  /* ss */
  ZL_RETURN_IF_ERROR(state.MixSharedSecret(static_static));
  /* payload */
  if (!state.EncryptAndHash(payload, out.encrypted_payload)) {
    return MakeError(EIO, "AEAD seal failed");
  }
  return Ok();
}

Result<void> IkReadMessage1Static(SymmetricState& state,
                                  const crypto::PrivateKey& local_static,
                                  const IkMessage1In& in,
                                  crypto::PublicKey& remote_ephemeral,
                                  crypto::PublicKey& remote_static) {
  if (in.ephemeral.size() != kDhPublicLen ||
      in.encrypted_static.size() != kEncryptedStaticLen) {
    return SizeError();
  }
  /* e */
  remote_ephemeral = crypto::PublicKey(in.ephemeral);
  MixEphemeral(state, in.ephemeral);
  /* es */
  ZL_RETURN_IF_ERROR(state.MixDh(local_static, remote_ephemeral));
  /* s */
  crypto::PublicKey decrypted;
  if (!state.DecryptAndHash(
          in.encrypted_static,
          MutableByteSpan(decrypted.data(), decrypted.size()))) {
    return AuthError("initiator static");
  }
  remote_static = decrypted;
  return Ok();
}

Result<void> IkReadMessage1Payload(SymmetricState& state,
                                   const crypto::SharedSecret& static_static,
                                   const IkMessage1In& in,
                                   MutableByteSpan payload) {
  if (in.encrypted_payload.size() != payload.size() + crypto::kAeadTagLen)
    return SizeError();
  /* ss */
  ZL_RETURN_IF_ERROR(state.MixSharedSecret(static_static));
  /* payload */
  if (!state.DecryptAndHash(in.encrypted_payload, payload))
    return AuthError("message 1 payload");
  return Ok();
}

Result<void> IkWriteMessage2(SymmetricState& state, crypto::Rng& rng,
                             const crypto::PublicKey& remote_ephemeral,
                             const crypto::PublicKey& remote_static,
                             const crypto::PresharedKey& psk, ByteSpan payload,
                             const IkMessage2Out& out) {
  if (out.ephemeral.size() != kDhPublicLen ||
      out.encrypted_payload.size() != payload.size() + crypto::kAeadTagLen) {
    return SizeError();
  }
  /* e */
  Result<crypto::PrivateKey> e = WriteEphemeral(state, rng, out.ephemeral);
  if (!e.ok()) return e.error();
  /* ee */
  ZL_RETURN_IF_ERROR(state.MixDh(*e, remote_ephemeral));
  /* se */
  ZL_RETURN_IF_ERROR(state.MixDh(*e, remote_static));
  /* psk */
  state.MixKeyAndHash(psk.span());
  /* payload */
  if (!state.EncryptAndHash(payload, out.encrypted_payload)) {
    return MakeError(EIO, "AEAD seal failed");
  }
  return Ok();
}

Result<void> IkReadMessage2(SymmetricState& state,
                            const crypto::PrivateKey& local_static,
                            const crypto::PrivateKey& local_ephemeral,
                            const crypto::PresharedKey& psk,
                            const IkMessage2In& in, MutableByteSpan payload) {
  if (in.ephemeral.size() != kDhPublicLen ||
      in.encrypted_payload.size() != payload.size() + crypto::kAeadTagLen) {
    return SizeError();
  }
  /* e */
  const crypto::PublicKey remote_ephemeral(in.ephemeral);
  MixEphemeral(state, in.ephemeral);
  /* ee */
  ZL_RETURN_IF_ERROR(state.MixDh(local_ephemeral, remote_ephemeral));
  /* se */
  ZL_RETURN_IF_ERROR(state.MixDh(local_static, remote_ephemeral));
  /* psk */
  state.MixKeyAndHash(psk.span());
  /* payload */
  if (!state.DecryptAndHash(in.encrypted_payload, payload))
    return AuthError("message 2 payload");
  return Ok();
}

}  // namespace zl::wg
