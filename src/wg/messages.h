#pragma once
// The four WireGuard messages (whitepaper §5.4): handshake initiation (148 B),
// handshake response (92 B), cookie reply (64 B) and transport data (16 B
// header + encrypted packet + 16 B tag). Parsing checks length and type
// together and reads fields with explicit little-endian loads; nothing is
// ever cast onto a network buffer.
//
// Thread safety: pure functions.

#include <array>
#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "crypto/aead.h"
#include "crypto/blake2s.h"
#include "crypto/keys.h"

namespace zl::wg {

// The first four bytes: message type then three reserved zero bytes, read as a
// little-endian 32-bit value (so a non-zero reserved byte is an unknown type).
enum class MessageType : uint32_t {
  kInitiation = 1,
  kResponse = 2,
  kCookieReply = 3,
  kTransportData = 4,
};

inline constexpr size_t kInitiationSize = 148;
inline constexpr size_t kResponseSize = 92;
inline constexpr size_t kCookieReplySize = 64;
inline constexpr size_t kTransportHeaderSize = 16;
inline constexpr size_t kTransportMinSize =
    kTransportHeaderSize + crypto::kAeadTagLen;  // keepalive
// Offsets of mac1 and mac2 in the two handshake messages: the MACs cover
// everything before them.
inline constexpr size_t kInitiationMac1Offset = 116;
inline constexpr size_t kResponseMac1Offset = 60;
// Transport payloads are zero-padded to a multiple of this (whitepaper §5.4.6).
inline constexpr size_t kPaddingMultiple = 16;

struct Initiation {
  uint32_t sender_index = 0;
  std::array<uint8_t, 32> unencrypted_ephemeral{};
  std::array<uint8_t, 32 + crypto::kAeadTagLen> encrypted_static{};
  std::array<uint8_t, 12 + crypto::kAeadTagLen> encrypted_timestamp{};
  crypto::Mac mac1{};
  crypto::Mac mac2{};
};

struct Response {
  uint32_t sender_index = 0;
  uint32_t receiver_index = 0;
  std::array<uint8_t, 32> unencrypted_ephemeral{};
  std::array<uint8_t, crypto::kAeadTagLen> encrypted_nothing{};
  crypto::Mac mac1{};
  crypto::Mac mac2{};
};

struct CookieReply {
  uint32_t receiver_index = 0;
  std::array<uint8_t, crypto::kXNonceLen> nonce{};
  std::array<uint8_t, crypto::kMacLen + crypto::kAeadTagLen> encrypted_cookie{};
};

struct TransportHeader {
  uint32_t receiver_index = 0;
  uint64_t counter = 0;
};

// The type of a datagram whose length is valid for that type; nullopt for
// anything else (unknown type, non-zero reserved bytes, wrong length).
std::optional<MessageType> ClassifyMessage(ByteSpan datagram);

// Parse*: false unless ClassifyMessage(datagram) is the matching type.
bool ParseInitiation(ByteSpan datagram, Initiation& out);
bool ParseResponse(ByteSpan datagram, Response& out);
bool ParseCookieReply(ByteSpan datagram, CookieReply& out);
bool ParseTransportHeader(ByteSpan datagram, TransportHeader& out);

// Serialize*: write exactly the message's size into `out`.
void SerializeInitiation(const Initiation& msg, uint8_t out[kInitiationSize]);
void SerializeResponse(const Response& msg, uint8_t out[kResponseSize]);
void SerializeCookieReply(const CookieReply& msg,
                          uint8_t out[kCookieReplySize]);
void SerializeTransportHeader(const TransportHeader& hdr,
                              uint8_t out[kTransportHeaderSize]);

}  // namespace zl::wg
