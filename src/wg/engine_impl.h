#pragma once
// Engine::Impl: the engine's state and the steps of the protocol, shared by
// engine.cc (configuration, timers, introspection), send.cc (the outbound
// path and the handshake messages we send) and receive.cc (the inbound path).
// Internal to the engine; nothing outside src/wg includes it.
//
// Thread safety: as Engine, one thread at a time.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "crypto/aead.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "wg/allowed_ips.h"
#include "wg/cookie.h"
#include "wg/engine.h"
#include "wg/flood_shedder.h"
#include "wg/index_table.h"
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

struct Engine::Impl {
  Impl(EngineOptions options, crypto::Rng& rng);

  // --- engine.cc ---
  Peer* FindPeer(PeerId id) const;
  Peer* FindPeer(const crypto::PublicKey& key) const;
  PeerId CreatePeer(const crypto::PublicKey& key);
  void ErasePeer(Peer& peer);
  // Recomputes precomputed_ss for `peer` from our private key.
  void PrecomputeStaticStatic(Peer& peer) const;
  void CountDrop(Peer* peer, DropReason reason);
  // Reports `event` of `peer` to the sink (PacketSink::OnEvent).
  static void Report(PacketSink& sink, EngineEvent event, const Peer& peer,
                     uint32_t attempt = 0);
  void TickPeer(Peer& peer, Now now, PacketSink& sink);
  PeerSnapshot MakeSnapshot(const Peer& peer) const;

  // --- send.cc ---
  // Encrypts `packet` with `keypair` into `out` (header, padded ciphertext,
  // tag) and returns the datagram's length, or 0 if the AEAD failed.
  // REQUIRES: keypair.CanSend(now); out.size() >= packet.size() +
  // kTransportHeaderSize + kAeadTagLen. `packet` may lie at out.data() + 16.
  size_t SealTransport(Keypair& keypair, ByteSpan packet, MutableByteSpan out);
  // Sends one engine-made datagram to the peer's endpoint through the sink.
  void SendToPeer(Peer& peer, ByteSpan datagram, PacketSink& sink);
  // Timer hooks around an authenticated transport message we send.
  void OnTransportSent(Peer& peer, bool data, Now now);
  // Sends the staged packets with the current keypair, or starts a handshake
  // if there is no usable one.
  void SendStagedPackets(Peer& peer, Now now, PacketSink& sink);
  // Stages a keepalive unless packets are already staged, then sends them.
  void SendKeepalive(Peer& peer, Now now, PacketSink& sink);
  // Sends an initiation unless one was sent less than REKEY_TIMEOUT ago.
  // `is_retry` false restarts the attempt count.
  void SendHandshakeInitiation(Peer& peer, bool is_retry, Now now,
                               PacketSink& sink);
  // Answers a consumed initiation and installs the responder's keypair.
  bool SendHandshakeResponse(Peer& peer, const ConsumedInitiation& init,
                             Now now, PacketSink& sink);
  // Rekeys when the current keypair is old or has sent too much.
  void KeepKeyFreshSending(Peer& peer, Now now, PacketSink& sink);
  // Installs a keypair from a handshake's session keys and returns it.
  Keypair& BeginSymmetricSession(Peer& peer, SessionKeys& keys, bool initiator,
                                 uint32_t local_index, uint32_t remote_index,
                                 Now now);

  // --- receive.cc ---
  // Counts a handshake message and says whether the engine is under load.
  bool IsUnderLoad(MonoTime now);
  DecapsulateResult ReceiveHandshake(const Path& from, MutableByteSpan datagram,
                                     MessageType type, Now now,
                                     PacketSink& sink);
  DecapsulateResult ReceiveInitiation(const Path& from, ByteSpan datagram,
                                      Now now, PacketSink& sink);
  DecapsulateResult ReceiveResponse(const Path& from, ByteSpan datagram,
                                    Now now, PacketSink& sink);
  DecapsulateResult ReceiveCookieReply(ByteSpan datagram, Now now,
                                       PacketSink& sink);
  DecapsulateResult ReceiveTransport(const Path& from, MutableByteSpan datagram,
                                     Now now, PacketSink& sink);
  // Keeps the initiator's keypair fresh from the receiving side.
  void KeepKeyFreshReceiving(Peer& peer, Now now, PacketSink& sink);
  DecapsulateResult Drop(Peer* peer, DropReason reason);

  const EngineOptions options;
  crypto::Rng& rng;
  Jitter jitter;

  std::optional<LocalStatic> local;
  CookieChecker cookie_checker;
  RateLimiter rate_limiter;    // valid-mac2 handshakes under load
  FloodShedder flood_shedder;  // any handshake message under load, pre-crypto
  IndexTable indices;
  AllowedIps allowed_ips;
  std::unordered_map<PeerId, std::unique_ptr<Peer>> peers;
  std::unordered_map<crypto::PublicKey, PeerId, crypto::PublicKeyHash>
      peers_by_key;
  PeerId next_peer_id = 1;
  DropCounters interface_drops{};

  // Handshake messages counted in the current under-load window.
  std::optional<MonoTime> load_window_start;
  uint64_t load_window_count = 0;
  std::optional<MonoTime> under_load_until;

  // The transport AEAD, re-keyed per packet. Wiped (re-keyed with zeros) at
  // every Tick and whenever keys are erased, so OpenSSL's copy of a key does
  // not outlive the key (see Engine::Tick).
  crypto::ChaChaPoly aead;
  // Secondary outputs (staged packets, keepalives, handshake messages) are
  // built here; valid only during the sink call.
  std::vector<uint8_t> scratch;
  size_t mtu = kDefaultMtu;  // caps the padding of transport data
};

}  // namespace zl::wg
