#pragma once
// Engine::Impl: the engine's state and the steps of the protocol, shared by
// engine.cc (configuration, timers, introspection), send.cc (the outbound
// path and the handshake messages we send) and receive.cc (the inbound path).
// Internal to the engine; nothing outside src/wg includes it.
//
// Thread safety (Engine's contract in engine.h): all state is guarded by
// `mu`. Methods marked REQUIRES(mu) run with it held, and so does every
// PacketSink call. The few marked EXCLUDES(mu) take it themselves, in
// phases, and do their cryptography between the phases on copies of what
// they need: the transport key (SealJob, OpenJob), our static identity (a
// shared, immutable LocalStatic that SetPrivateKey swaps rather than
// changes) and the peer's PeerStatic or InitiatorState. After re-taking the
// lock they find the state again by id, index and generation number (never
// by a pointer kept across the unlocked phase) and drop the message if it
// moved on. Transport AEAD contexts come from `aead_pool` (lock-free; used
// with `mu` held or not).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "crypto/aead.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "wg/aead_pool.h"
#include "wg/allowed_ips.h"
#include "wg/cookie.h"
#include "wg/engine.h"
#include "wg/flood_shedder.h"
#include "wg/index_table.h"
#include "wg/messages.h"
#include "wg/noise.h"
#include "wg/peer.h"
#include "wg/ratelimiter.h"
#include "wg/timers.h"

namespace zl::wg {

// How long the engine stays under load after the threshold was crossed
// (wireguard-go UnderLoadAfterTime).
inline constexpr auto kUnderLoadAfterTime = std::chrono::seconds(1);
// The window in which handshake messages are counted against
// EngineOptions::under_load_handshakes_per_second.
inline constexpr auto kUnderLoadWindow = std::chrono::seconds(1);
// Initiations from one peer closer together than this are a flood (kernel
// INITIATIONS_PER_SECOND = 50, wireguard-go HandshakeInitationRate).
inline constexpr auto kHandshakeInitiationRate =
    std::chrono::milliseconds(1000 / 50);
// The largest IP packet (IPv4 total length, IPv6 payload length + header).
inline constexpr size_t kMaxIpPacketSize = 65535 + 40;
// Transport overhead: header, at most 15 bytes of padding, tag.
inline constexpr size_t kMaxTransportOverhead =
    kTransportHeaderSize + (kPaddingMultiple - 1) + crypto::kAeadTagLen;

// Everything a transport message is sealed with, copied out of the keypair
// under the lock so the seal can run without it.
struct SealJob {
  crypto::SymmetricKey key;  // wipes itself
  uint32_t remote_index = 0;
  uint64_t counter = 0;      // reserved: keypair.send_counter moved past it
  size_t padded = 0;         // plaintext length after padding
  // The datagram's length: header, padded plaintext, tag.
  size_t length() const {
    return kTransportHeaderSize + padded + crypto::kAeadTagLen;
  }
};

// Everything a transport message is opened with, and how to find its keypair
// again afterwards.
struct OpenJob {
  crypto::SymmetricKey key;  // wipes itself
  PeerId peer = kNoPeer;
  uint64_t keypair_generation = 0;
};

// Writes the transport header and the padded plaintext of `packet` into
// `out` and seals it. Returns the datagram's length, or 0 if the AEAD
// failed. REQUIRES: out.size() >= job.length(). `packet` may lie at
// out.data() + 16. Touches no engine state: runs without the lock.
size_t SealTransport(crypto::ChaChaPoly& aead, const SealJob& job,
                     ByteSpan packet, MutableByteSpan out);

struct Engine::Impl {
  Impl(EngineOptions options, crypto::Rng& rng);

  // --- engine.cc ---
  Peer* FindPeer(PeerId id) const REQUIRES(mu);
  Peer* FindPeer(const crypto::PublicKey& key) const REQUIRES(mu);
  PeerId CreatePeer(const crypto::PublicKey& key) REQUIRES(mu);
  void ErasePeer(Peer& peer) REQUIRES(mu);
  // Recomputes precomputed_ss for `peer` from our private key.
  void PrecomputeStaticStatic(Peer& peer) const REQUIRES(mu);
  void CountDrop(Peer* peer, DropReason reason) REQUIRES(mu);
  // Reports `event` of `peer` to the sink (PacketSink::OnEvent).
  static void Report(PacketSink& sink, EngineEvent event, const Peer& peer,
                     uint32_t attempt = 0);
  void TickPeer(Peer& peer, Now now, PacketSink& sink) REQUIRES(mu);
  PeerSnapshot MakeSnapshot(const Peer& peer) const REQUIRES(mu);
  // A number never handed out before (keypairs, initiations in flight).
  uint64_t NextGeneration() REQUIRES(mu) { return next_generation++; }

  // --- send.cc ---
  // Everything of Encapsulate up to the seal: route, keypair, staging,
  // counter, timers. kSent fills `job` for the caller to seal.
  EncapsulateResult PrepareEncapsulate(ByteSpan packet, MutableByteSpan out,
                                       Now now, PacketSink& sink,
                                       SealJob& job) REQUIRES(mu);
  // Reserves the next counter of `keypair` for a packet of `size` bytes
  // with `room` bytes for header, padded plaintext and tag.
  // REQUIRES: keypair.CanSend(now).
  SealJob ReserveSeal(Keypair& keypair, size_t size, size_t room) REQUIRES(mu);
  // Sends one engine-made datagram to the peer's endpoint through the sink.
  void SendToPeer(Peer& peer, ByteSpan datagram, PacketSink& sink)
      REQUIRES(mu);
  // Timer hooks around an authenticated transport message we send.
  void OnTransportSent(Peer& peer, bool data, Now now) REQUIRES(mu);
  // Sends the staged packets with the current keypair, or starts a handshake
  // if there is no usable one.
  void SendStagedPackets(Peer& peer, Now now, PacketSink& sink) REQUIRES(mu);
  // Stages a keepalive unless packets are already staged, then sends them.
  void SendKeepalive(Peer& peer, Now now, PacketSink& sink) REQUIRES(mu);
  // Sends an initiation unless one was sent less than REKEY_TIMEOUT ago.
  // `is_retry` false restarts the attempt count.
  void SendHandshakeInitiation(Peer& peer, bool is_retry, Now now,
                               PacketSink& sink) REQUIRES(mu);
  // Answering a consumed initiation, in two halves around CreateResponse
  // (which runs without the lock): the first allocates the responder's
  // index and records it as the peer's response in progress; the second,
  // if that response is still the peer's, installs the keypair and sends.
  uint32_t BeginHandshakeResponse(Peer& peer, Now now) REQUIRES(mu);
  DecapsulateResult FinishHandshakeResponse(PeerId peer_id, uint32_t index,
                                            bool created, Response& msg,
                                            SessionKeys& keys,
                                            uint32_t initiator_index, Now now,
                                            PacketSink& sink) REQUIRES(mu);
  // Rekeys when the current keypair is old or has sent too much.
  void KeepKeyFreshSending(Peer& peer, Now now, PacketSink& sink)
      REQUIRES(mu);
  // Installs a keypair from a handshake's session keys and returns it.
  Keypair& BeginSymmetricSession(Peer& peer, SessionKeys& keys, bool initiator,
                                 uint32_t local_index, uint32_t remote_index,
                                 Now now) REQUIRES(mu);

  // --- receive.cc ---
  // Counts a handshake message and says whether the engine is under load.
  bool IsUnderLoad(MonoTime now) REQUIRES(mu);
  DecapsulateResult ReceiveHandshake(const Path& from, MutableByteSpan datagram,
                                     MessageType type, Now now,
                                     PacketSink& sink) EXCLUDES(mu);
  // The checks every handshake message passes before any X25519 (load,
  // flood shedding, mac1, cookie, rate limit). A result = dropped (or
  // answered with a cookie reply).
  std::optional<DecapsulateResult> ScreenHandshake(const Path& from,
                                                   ByteSpan datagram, Now now,
                                                   PacketSink& sink)
      REQUIRES(mu);
  DecapsulateResult ReceiveInitiation(const Path& from, ByteSpan datagram,
                                      Now now, PacketSink& sink) EXCLUDES(mu);
  DecapsulateResult ReceiveResponse(const Path& from, ByteSpan datagram,
                                    Now now, PacketSink& sink) EXCLUDES(mu);
  DecapsulateResult ReceiveCookieReply(ByteSpan datagram, Now now,
                                       PacketSink& sink) REQUIRES(mu);
  DecapsulateResult ReceiveTransport(const Path& from, MutableByteSpan datagram,
                                     Now now, PacketSink& sink) EXCLUDES(mu);
  // Transport data before the open: the keypair by index, expiry, the replay
  // pre-check. A result = dropped; otherwise `job` is filled.
  std::optional<DecapsulateResult> PrepareOpen(const TransportHeader& header,
                                               Now now, OpenJob& job)
      REQUIRES(mu);
  // Transport data after the open: the same keypair again, the replay
  // filter, key confirmation, timers, the inner source check.
  DecapsulateResult FinishReceiveTransport(const Path& from,
                                           MutableByteSpan datagram,
                                           const TransportHeader& header,
                                           bool opened, const OpenJob& job,
                                           Now now, PacketSink& sink)
      REQUIRES(mu);
  // Keeps the initiator's keypair fresh from the receiving side.
  void KeepKeyFreshReceiving(Peer& peer, Now now, PacketSink& sink)
      REQUIRES(mu);
  DecapsulateResult Drop(Peer* peer, DropReason reason) REQUIRES(mu);

  // Guards everything below but `options`, `rng` and `aead_pool`.
  Mutex mu;
  const EngineOptions options;
  crypto::Rng& rng;  // thread-safe when the engine is called from several
  Jitter jitter GUARDED_BY(mu);

  // Replaced, never changed in place, so a handshake running without the
  // lock keeps a consistent copy; comparing pointers after re-taking the
  // lock tells whether it is still ours.
  std::shared_ptr<const LocalStatic> local GUARDED_BY(mu);
  CookieChecker cookie_checker GUARDED_BY(mu);
  RateLimiter rate_limiter GUARDED_BY(mu);  // valid-mac2 handshakes under load
  // Any handshake message under load, pre-crypto.
  FloodShedder flood_shedder GUARDED_BY(mu);
  IndexTable indices GUARDED_BY(mu);
  AllowedIps allowed_ips GUARDED_BY(mu);
  std::unordered_map<PeerId, std::unique_ptr<Peer>> peers GUARDED_BY(mu);
  std::unordered_map<crypto::PublicKey, PeerId, crypto::PublicKeyHash>
      peers_by_key GUARDED_BY(mu);
  PeerId next_peer_id GUARDED_BY(mu) = 1;
  uint64_t next_generation GUARDED_BY(mu) = 1;
  DropCounters interface_drops GUARDED_BY(mu){};
  // What Engine::interface_drops() returns a reference to: a copy made at
  // its call (the live counters change under the lock).
  DropCounters interface_drops_view GUARDED_BY(mu){};

  // Handshake messages counted in the current under-load window.
  std::optional<MonoTime> load_window_start GUARDED_BY(mu);
  uint64_t load_window_count GUARDED_BY(mu) = 0;
  std::optional<MonoTime> under_load_until GUARDED_BY(mu);

  // The transport AEAD contexts, keyed per packet (re-keyed only when the
  // key changes). Wiped at every Tick and whenever keys are erased, so
  // OpenSSL's copy of a key does not outlive the key (see Engine::Tick).
  AeadPool aead_pool;
  // Secondary outputs (staged packets, keepalives, handshake messages) are
  // built here; valid only during the sink call.
  std::vector<uint8_t> scratch GUARDED_BY(mu);
  size_t mtu GUARDED_BY(mu) = kDefaultMtu;  // caps the padding of transport data
};

}  // namespace zl::wg
