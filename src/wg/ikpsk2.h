#pragma once
// The Noise IKpsk2 handshake pattern (Noise spec §7.5, §9), generic over the
// protocol name, the prologue and the payloads:
//
//   <- s
//   ...
//   -> e, es, s, ss          (payload 1)
//   <- e, ee, se, psk        (payload 2)
//
// Internal to wg/: noise.cc runs it with WireGuard's construction, identifier
// and framing; noise_test.cc runs it with the standard Noise test vector, so
// the vector checks the very code WireGuard uses. A message is handed over as
// one span per token, so callers keep their own framing.
//
// The ephemeral key is drawn from the Rng (crypto::GeneratePrivateKey). The
// static-static DH is passed in precomputed (WireGuard caches it). Every DH
// result that is all zero is an error (EINVAL); a failed AEAD is EBADMSG.
// On error the SymmetricState is unspecified: callers discard it.
//
// Thread safety: free functions over caller-owned state.

#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "wg/symmetric_state.h"

namespace zl::wg {

inline constexpr size_t kDhPublicLen = crypto::kKeyLen;
inline constexpr size_t kEncryptedStaticLen =
    crypto::kKeyLen + crypto::kAeadTagLen;

// Initialize + prologue + the pre-message "<- s": both sides start here.
void IkStart(SymmetricState& state, ByteSpan prologue,
             const crypto::PublicKey& responder_static);

// Message 1, as spans over the caller's framing.
// REQUIRES: ephemeral.size() == kDhPublicLen, encrypted_static.size() ==
// kEncryptedStaticLen, encrypted_payload.size() == payload size + tag.
struct IkMessage1Out {
  MutableByteSpan ephemeral;
  MutableByteSpan encrypted_static;
  MutableByteSpan encrypted_payload;
};
struct IkMessage1In {
  ByteSpan ephemeral;
  ByteSpan encrypted_static;
  ByteSpan encrypted_payload;
};
// Message 2. REQUIRES as above.
struct IkMessage2Out {
  MutableByteSpan ephemeral;
  MutableByteSpan encrypted_payload;
};
struct IkMessage2In {
  ByteSpan ephemeral;
  ByteSpan encrypted_payload;
};

// Initiator: -> e, es, s, ss, payload. `ephemeral` receives the ephemeral
// private key (kept for message 2). `static_static` = DH(s_i, S_r).
Result<void> IkWriteMessage1(SymmetricState& state, crypto::Rng& rng,
                             const crypto::PublicKey& local_static,
                             const crypto::PublicKey& remote_static,
                             const crypto::SharedSecret& static_static,
                             ByteSpan payload, const IkMessage1Out& out,
                             crypto::PrivateKey& ephemeral);

// Responder, first half of message 1: e, es, s. Yields the initiator's
// ephemeral and static public keys, so the caller can look the peer up.
Result<void> IkReadMessage1Static(SymmetricState& state,
                                  const crypto::PrivateKey& local_static,
                                  const IkMessage1In& in,
                                  crypto::PublicKey& remote_ephemeral,
                                  crypto::PublicKey& remote_static);
// Responder, second half: ss, payload. `static_static` = DH(s_r, S_i).
// REQUIRES: payload.size() == in.encrypted_payload.size() - tag.
Result<void> IkReadMessage1Payload(SymmetricState& state,
                                   const crypto::SharedSecret& static_static,
                                   const IkMessage1In& in,
                                   MutableByteSpan payload);

// Responder: <- e, ee, se, psk, payload.
Result<void> IkWriteMessage2(SymmetricState& state, crypto::Rng& rng,
                             const crypto::PublicKey& remote_ephemeral,
                             const crypto::PublicKey& remote_static,
                             const crypto::PresharedKey& psk, ByteSpan payload,
                             const IkMessage2Out& out);

// Initiator: reads e, ee, se, psk, payload with its static and ephemeral
// private keys. REQUIRES: payload.size() == in.encrypted_payload.size() - tag.
Result<void> IkReadMessage2(SymmetricState& state,
                            const crypto::PrivateKey& local_static,
                            const crypto::PrivateKey& local_ephemeral,
                            const crypto::PresharedKey& psk,
                            const IkMessage2In& in, MutableByteSpan payload);

}  // namespace zl::wg
