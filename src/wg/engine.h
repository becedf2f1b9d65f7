#pragma once
// wg::Engine: the WireGuard protocol for one interface, with no I/O.
//
// The device drives it: a plain IP packet from the TUN goes to Encapsulate(),
// a datagram from the network to Decapsulate(), and Tick() runs the timers.
// Time comes in as `Now`, randomness through the Rng given at construction.
// Nothing here reads a clock, touches a socket or starts a thread.
//
// Outputs. The main result of a call is returned in place, so the device can
// batch it without a copy:
//   - Encapsulate writes the transport-data datagram into the caller's `out`
//     and returns where to send it (kSent).
//   - Decapsulate decrypts transport data in place inside `datagram` and
//     returns the inner packet as a sub-span of it (kDeliver).
// Secondary outputs (handshake messages, cookie replies, keepalives, packets
// that were queued while a handshake was pending) go to the PacketSink during
// the call; their bytes live in engine-owned scratch and are valid only until
// the sink call returns.
//
// Per-packet outcomes are enums that feed counters; nothing throws and the
// data path does not allocate once a peer's staging queue has warmed up.
//
// Thread safety: every method may be called from any thread, concurrently
// (issue 11: one peer's traffic on several cores). The engine keeps its state
// under one internal mutex, held only for bookkeeping:
//   - Encapsulate takes it to route, pick the keypair and reserve the sending
//     counter, and seals the packet after releasing it;
//   - Decapsulate takes it to find the keypair by index and pre-check the
//     replay window, opens the packet after releasing it, then takes it again
//     to mark the counter in the replay filter (a replay lost in a race is
//     still dropped, kReplayedCounter), confirm the keypair, run the timers and
//     check the inner source; a keypair dropped meanwhile drops the packet;
//   - handshake messages: the X25519 and AEAD work of consuming an initiation,
//     creating the response and consuming a response runs outside it too; the
//     state it read is re-validated after re-taking it (a handshake that moved
//     on meanwhile drops the message, counted).
// So N threads seal and open on N cores, even one peer's packets. Transport
// AEAD contexts come from a small pool (one per thread in the engine at once),
// all wiped as Tick describes.
// Ordering: concurrent Encapsulate calls for one peer take sending counters
// in the order they take the lock; a caller that sends in its own batch order
// may send counters slightly out of order, which the receiver's replay window
// accepts. The engine reorders nothing; callers own the order of outputs.
// PacketSink calls are made with the mutex held: one at a time, from whichever
// thread is in the engine; a sink must not call back into the engine.
// The Rng is used from every calling thread: it must be thread-safe when the
// engine is called from several.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/ip.h"
#include "base/result.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "wg/peer_id.h"

namespace zl::wg {

// Timers and limits, whitepaper §6.1 / §6.4.
inline constexpr uint64_t kRekeyAfterMessages = uint64_t(1) << 60;
inline constexpr uint64_t kRejectAfterMessages = ~uint64_t(0) - (uint64_t(1) << 13);  // 2^64-2^13-1
inline constexpr auto kRekeyAfterTime = std::chrono::seconds(120);
inline constexpr auto kRejectAfterTime = std::chrono::seconds(180);
inline constexpr auto kRekeyAttemptTime = std::chrono::seconds(90);
inline constexpr auto kRekeyTimeout = std::chrono::seconds(5);
inline constexpr auto kRekeyTimeoutJitterMax = std::chrono::milliseconds(333);
inline constexpr auto kKeepaliveTimeout = std::chrono::seconds(10);
// All key material of a peer is zeroed after this long without a new session.
inline constexpr auto kZeroKeysAfter = 3 * kRejectAfterTime;
// wireguard-go's default interface MTU.
inline constexpr size_t kDefaultMtu = 1420;
// Tick() must be called at least this often for the timers to be on time.
inline constexpr auto kTickInterval = std::chrono::milliseconds(100);
// At most this many peers (wireguard-go's MaxPeers); more are refused.
inline constexpr size_t kMaxPeers = size_t{1} << 16;
// Default bound on the allowed-IPs table, all peers together (ours: neither
// the kernel nor wireguard-go has one). Room for a full IPv4 Internet
// routing table; each prefix costs about 200 bytes of trie, so the table
// stays within ~200 MB whatever a configuration asks.
inline constexpr size_t kDefaultMaxAllowedIps = size_t{1} << 20;

// Where a datagram came from / goes to. `local` is our address the peer sent
// to, so replies leave from it ("sticky source"); unset = let the OS choose.
struct Path {
  Endpoint remote;
  std::optional<IpAddress> local;
};

// Why a packet was not delivered. Each one is counted.
enum class DropReason : uint8_t {
  kNoRoute,              // encapsulate: no peer's allowed IPs contain the destination
  kNoEndpoint,           // encapsulate: the peer has no endpoint yet
  kNoPrivateKey,         // interface has no private key
  kQueueFull,            // staging queue full while waiting for a handshake
  kInvalidPacket,        // not an IPv4/IPv6 packet, or inconsistent length
  kMalformedMessage,     // unknown type or wrong length
  kInvalidMac1,
  kRateLimited,          // under load: handshake messages from this source over the rate limit
  kCookieRequired,       // under load without a valid mac2: a cookie reply was sent
  kHandshakeFailed,      // authentication of a handshake message failed
  kUnknownPeer,          // initiation from a static key that is not configured
  kReplayedInitiation,   // TAI64N timestamp not newer than the last one
  kInitiationFlood,      // initiations from one peer less than 20 ms apart (kernel, wireguard-go)
  kUnknownIndex,         // receiver index matches no handshake or keypair
  kInvalidCookieReply,
  kDecryptFailed,
  kReplayedCounter,      // transport counter already seen or too old
  kKeypairExpired,       // keypair older than REJECT_AFTER_TIME or past REJECT_AFTER_MESSAGES
  kSourceNotAllowed,     // inner source address not in the sending peer's allowed IPs
  kCount,
};
inline constexpr size_t kDropReasonCount = size_t(DropReason::kCount);
const char* DropReasonName(DropReason reason);

using DropCounters = std::array<uint64_t, kDropReasonCount>;

// A protocol event worth a log line (wireguard-go logs each at verbose
// level). Reported to PacketSink::OnEvent as it happens, so the engine does
// no logging itself. Events come at handshake rate, never per data packet:
// all but kCookieReplySent need an authenticated message or a timer; a
// cookie reply answers any sender under load, so a flood can make many.
enum class EngineEvent : uint8_t {
  kHandshakeInitiationSent,      // `attempt`: 1 for the first, 2 for the first retry...
  kHandshakeInitiationReceived,  // authenticated, not a replay
  kHandshakeResponseSent,
  kHandshakeResponseReceived,    // authenticated
  kCookieReplySent,              // peer kNoPeer; `remote`: where it went
  kCookieReplyReceived,          // decrypted: our next handshake carries mac2
  kKeypairCreated,               // session keys derived (response sent or consumed)
  kHandshakeCompleted,           // key confirmation: the new keypair is in use both ways
  kHandshakeRetry,               // no response within REKEY_TIMEOUT; `attempt`: the next one's
  kHandshakeGivenUp,             // `attempt`: initiations sent in vain; staged packets dropped
  kHandshakeAfterSilence,        // data sent, nothing heard for KEEPALIVE + REKEY_TIMEOUT
  kKeepaliveSent,
  kKeysZeroed,                   // no new session for 3 x REJECT_AFTER_TIME: every key wiped
};
const char* EngineEventName(EngineEvent event);

struct EngineEventInfo {
  EngineEvent event = EngineEvent::kKeysZeroed;
  PeerId peer = kNoPeer;
  uint32_t attempt = 0;  // handshake events, see above
  Endpoint remote;       // kCookieReplySent
};

class PacketSink {
 public:
  virtual ~PacketSink() = default;
  // A datagram for the network. `data` is valid only during the call.
  // `peer` is kNoPeer for cookie replies (sent to `to`, the sender's path).
  virtual void SendToNetwork(PeerId peer, const Path& to, ByteSpan data) = 0;
  // A decrypted IP packet for the TUN. `packet` is valid only during the call.
  virtual void WriteToTun(PeerId peer, ByteSpan packet) = 0;
  // A protocol event (see EngineEvent), during the call that caused it;
  // ignored unless overridden.
  virtual void OnEvent(const EngineEventInfo& /*info*/) {}
};

struct EncapsulateResult {
  enum class Kind { kSent, kQueued, kDropped } kind = Kind::kDropped;
  DropReason drop = DropReason::kCount;  // when kDropped
  PeerId peer = kNoPeer;
  Path to;             // when kSent
  size_t length = 0;   // when kSent: the datagram is out[0, length)
};

struct DecapsulateResult {
  enum class Kind {
    kDeliver,     // `packet` (inside the datagram) goes to the TUN
    kKeepalive,   // authenticated empty transport message
    kHandshake,   // a handshake message or cookie reply was consumed
    kDropped,
  } kind = Kind::kDropped;
  DropReason drop = DropReason::kCount;  // when kDropped
  PeerId peer = kNoPeer;
  MutableByteSpan packet;  // when kDeliver
};

// One peer's configuration change, exactly what `wg set`/UAPI can express.
struct PeerUpdate {
  crypto::PublicKey public_key;
  bool remove = false;
  bool update_only = false;                         // do not create the peer
  std::optional<crypto::PresharedKey> preshared_key;  // all zero = none
  std::optional<Endpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive_interval;  // seconds, 0 = off
  bool replace_allowed_ips = false;
  std::vector<Cidr> allowed_ips;  // added after an optional replace
};

struct PeerSnapshot {
  PeerId id = kNoPeer;
  crypto::PublicKey public_key;
  crypto::PresharedKey preshared_key;
  std::optional<Endpoint> endpoint;
  uint16_t persistent_keepalive_interval = 0;
  std::vector<Cidr> allowed_ips;
  std::optional<WallTime> last_handshake;  // wall-clock time of the last completed handshake
  uint64_t rx_bytes = 0;  // datagram bytes received from / sent to this peer
  uint64_t tx_bytes = 0;
  DropCounters drops{};
};

struct EngineOptions {
  // Packets kept per peer while a handshake is pending (the oldest is dropped).
  size_t staged_packets_per_peer = 128;
  // Handshake messages per second above which the engine is "under load" and
  // demands a valid mac2 (answering with cookie replies) for one second.
  uint32_t under_load_handshakes_per_second = 1000;
  // Initiations accepted per source address per second (then kRateLimited).
  uint32_t initiations_per_second_per_source = 20;
  uint32_t initiation_burst_per_source = 5;
  // Under load, handshake messages per second that the sources of one bucket
  // of the FloodShedder (a source: an IPv4 address or an IPv6 /64; a bucket:
  // chosen by a keyed hash) may have reach any cryptography (mac1/mac2
  // checks, cookie replies); the rest are dropped first thing. Keeps a flood
  // from a few sources from eating the engine's thread. The device, which
  // queues handshake messages for a worker, sheds at its queue instead and
  // sets this out of reach. See docs/ARCHITECTURE.md ("Shedding a handshake
  // flood").
  uint32_t handshakes_per_second_per_source_under_load = 50;
  uint32_t handshake_burst_per_source_under_load = 10;
  // Prefixes the allowed-IPs table may hold (then ENOSPC).
  size_t max_allowed_ips = kDefaultMaxAllowedIps;
};

class Engine {
 public:
  Engine(EngineOptions options, crypto::Rng& rng);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- configuration (the operations wg(8) can express) ---

  // Sets or clears (nullopt or an all-zero key) our private key. Sessions are
  // dropped and precomputed static-static secrets recomputed; a peer whose
  // public key equals our new public key is removed (as wireguard-go does).
  Result<void> SetPrivateKey(const std::optional<crypto::PrivateKey>& key, Now now);
  std::optional<crypto::PublicKey> public_key() const;
  // The interface MTU: padding never takes a packet past it (default 1420).
  void SetMtu(size_t mtu);

  // Creates, updates or removes one peer. Turning a persistent keepalive on
  // (from 0) for a peer that has an endpoint sends a keepalive at once
  // (through `sink`; a handshake first if there is no session), as
  // wireguard-go does. A peer with our own public key is ignored.
  // Errors: EINVAL when a new peer would be one more than kMaxPeers (as
  // wireguard-go); ENOSPC when a prefix would take the allowed-IPs table past
  // EngineOptions::max_allowed_ips (the prefixes before it stay added, the
  // rest of the update is still applied).
  Result<void> ApplyPeerUpdate(const PeerUpdate& update, Now now, PacketSink& sink);
  void RemovePeer(const crypto::PublicKey& key);
  void RemoveAllPeers();
  // Removes at most `max` peers (in no particular order) and returns how many
  // remain: lets a caller remove many peers in bounded steps.
  size_t RemovePeersUpTo(size_t max);

  // --- data path ---

  // A plain IP packet from the TUN. REQUIRES: out.size() >= packet.size() + 48
  // (header, padding to 16, tag); with less room the padding is shortened,
  // below packet.size() + 32 the packet is dropped (kInvalidPacket).
  // `packet` may lie inside `out` at offset 16 (the transport header size) to
  // encrypt in place without a copy; otherwise they must not overlap.
  EncapsulateResult Encapsulate(ByteSpan packet, MutableByteSpan out, Now now,
                                PacketSink& sink);
  // A datagram from the network, received on `from`. Decrypts in place.
  DecapsulateResult Decapsulate(const Path& from, MutableByteSpan datagram, Now now,
                                PacketSink& sink);
  // Runs the timers: retransmissions, rekeys, keepalives, expiry, key zeroing.
  // Also wipes the transport cipher contexts, so a key the engine erased
  // (rotation, expiry) leaves OpenSSL's memory by the next Tick at the latest;
  // removing a peer or clearing the private key wipes them at once (a
  // context in use by another thread then: when that call ends).
  void Tick(Now now, PacketSink& sink);

  // --- introspection ---

  std::vector<PeerSnapshot> Snapshot() const;
  std::optional<PeerSnapshot> SnapshotPeer(const crypto::PublicKey& key) const;
  // The peer's id, or kNoPeer if `key` is not configured. O(1).
  PeerId FindPeerId(const crypto::PublicKey& key) const;
  // Drops not attributable to a configured peer (bad mac1, unknown index...).
  // The reference is to a copy made at the call and refreshed by the next
  // call: read it from one thread at a time.
  const DropCounters& interface_drops() const;
  size_t peer_count() const;

  // --- test hooks ---

  // Sets the next sending counter of the peer's current keypair.
  void SetSendCounterForTesting(const crypto::PublicKey& peer, uint64_t counter);
  // True if any key material (handshake or keypair) of the peer is non-zero.
  bool HasKeyMaterialForTesting(const crypto::PublicKey& peer) const;
  // True if one of the engine's transport AEAD contexts not in use by a
  // call (OpenSSL's copy of the last key used) holds a non-zero key.
  bool AeadContextHoldsKeyForTesting();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zl::wg
