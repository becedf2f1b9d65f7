#pragma once
// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (whitepaper
// §5.4.2-§5.4.5): construction "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s",
// identifier "WireGuard v1 zx2c4 Jason@zx2c4.com" as the prologue, the
// initiator's TAI64N timestamp as the first payload and an empty second
// payload. The symmetric-state steps and the IKpsk2 token order are generic
// (wg/symmetric_state.h, wg/ikpsk2.h, internal) so the standard Noise test
// vector drives the same code with its own name, prologue and payloads.
//
// Errors (Error::code()): ENOENT = unknown peer (ConsumeInitiation only);
// EBADMSG = an AEAD tag did not verify (wrong keys, PSK mismatch, tampering);
// EINVAL = an all-zero DH result (low-order key) or a response whose receiver
// index is not the state's sender index.
//
// The functions are pure: randomness comes in as an Rng&, time as a Tai64n.
// Thread safety: none needed; callers own all state.

#include <functional>
#include <string_view>

#include "base/result.h"
#include "crypto/aead.h"
#include "crypto/blake2s.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/tai64n.h"
#include "wg/messages.h"

namespace zl::wg {

// Whitepaper §5.4: Noise's protocol name, and WireGuard's identifier (the
// Noise prologue).
inline constexpr std::string_view kNoiseConstruction =
    "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
inline constexpr std::string_view kWireGuardIdentifier =
    "WireGuard v1 zx2c4 Jason@zx2c4.com";

// Our static identity.
struct LocalStatic {
  crypto::PrivateKey private_key;
  crypto::PublicKey public_key;
};

// What we know about a peer's static identity. `precomputed_ss` is
// DH(our static private, their static public), cached when the peer or our key
// is configured (whitepaper: the static-static DH never changes).
struct PeerStatic {
  crypto::PublicKey public_key;
  crypto::PresharedKey preshared_key;  // all zero when none is configured
  crypto::SharedSecret precomputed_ss;
};

// The handshake hash h between two messages. Not a key, but the next message
// authenticates it and the kernel zeroes it with the keys: it wipes itself
// like one.
struct HandshakeHashTag;
using HandshakeHash = crypto::Secret<crypto::kHashLen, HandshakeHashTag>;

// The two transport keys a completed handshake yields.
struct SessionKeys {
  crypto::SymmetricKey send;
  crypto::SymmetricKey receive;
};

// The initiator's state between sending an initiation and receiving the
// response.
struct InitiatorState {
  crypto::PrivateKey ephemeral_private;
  crypto::SymmetricKey chaining_key;
  HandshakeHash hash;
  uint32_t sender_index = 0;
};

// A received, authenticated initiation, before the responder answers it.
struct ConsumedInitiation {
  crypto::PublicKey initiator_static;
  crypto::PublicKey initiator_ephemeral;
  crypto::Tai64n timestamp{};
  uint32_t initiator_index = 0;
  crypto::SymmetricKey chaining_key;
  HandshakeHash hash;
};

// Initiator: builds `out` (without mac1/mac2: the cookie layer adds them) and
// `state`. Tokens: e, es, s, ss; payload = timestamp.
// Errors: a DH with an all-zero result (low-order key).
Result<void> CreateInitiation(const LocalStatic& local, const PeerStatic& peer,
                              uint32_t sender_index,
                              const crypto::Tai64n& timestamp, crypto::Rng& rng,
                              Initiation& out, InitiatorState& state);

// Responder: decrypts the initiator's static key (e, es, s), asks `find_peer`
// for that key's PeerStatic (nullptr = unknown peer), then finishes (ss,
// timestamp). Fails on an unknown peer or any authentication failure.
// Replay and flood checks on the timestamp are the caller's (the engine's).
Result<ConsumedInitiation> ConsumeInitiation(
    const Initiation& msg, const LocalStatic& local,
    const std::function<const PeerStatic*(const crypto::PublicKey&)>&
        find_peer);

// Responder: answers a consumed initiation. Tokens: e, ee, se, psk; empty
// payload. Fills `out` (without MACs) and the session keys (responder view:
// send = initiator's receive key).
Result<void> CreateResponse(const ConsumedInitiation& init,
                            const PeerStatic& peer, uint32_t sender_index,
                            crypto::Rng& rng, Response& out, SessionKeys& keys);

// Initiator: consumes the response to `state` (e, ee, se, psk; empty payload)
// and derives the session keys. Fails on any authentication failure.
Result<void> ConsumeResponse(const Response& msg, const LocalStatic& local,
                             const PeerStatic& peer,
                             const InitiatorState& state, SessionKeys& keys);

}  // namespace zl::wg
