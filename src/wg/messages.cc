#include "wg/messages.h"

#include <algorithm>

namespace zl::wg {
namespace {

// Field offsets, whitepaper §5.4.2-§5.4.6. Every message opens with the 4-byte
// type word (type, then three reserved zero bytes).
inline constexpr size_t kTypeSize = 4;
inline constexpr size_t kIndexSize = 4;
inline constexpr size_t kEphemeralSize = 32;

// Initiation: type | sender | ephemeral | static | timestamp | mac1 | mac2.
inline constexpr size_t kInitSender = kTypeSize;
inline constexpr size_t kInitEphemeral = kInitSender + kIndexSize;
inline constexpr size_t kInitStatic = kInitEphemeral + kEphemeralSize;
inline constexpr size_t kInitTimestamp =
    kInitStatic + sizeof(Initiation::encrypted_static);
inline constexpr size_t kInitMac1 =
    kInitTimestamp + sizeof(Initiation::encrypted_timestamp);
inline constexpr size_t kInitMac2 = kInitMac1 + crypto::kMacLen;
static_assert(kInitMac1 == kInitiationMac1Offset);
static_assert(kInitMac2 + crypto::kMacLen == kInitiationSize);
static_assert(kInitiationSize == 148);

// Response: type | sender | receiver | ephemeral | empty | mac1 | mac2.
inline constexpr size_t kRespSender = kTypeSize;
inline constexpr size_t kRespReceiver = kRespSender + kIndexSize;
inline constexpr size_t kRespEphemeral = kRespReceiver + kIndexSize;
inline constexpr size_t kRespEmpty = kRespEphemeral + kEphemeralSize;
inline constexpr size_t kRespMac1 =
    kRespEmpty + sizeof(Response::encrypted_nothing);
inline constexpr size_t kRespMac2 = kRespMac1 + crypto::kMacLen;
static_assert(kRespMac1 == kResponseMac1Offset);
static_assert(kRespMac2 + crypto::kMacLen == kResponseSize);
static_assert(kResponseSize == 92);

// Cookie reply: type | receiver | nonce | encrypted cookie.
inline constexpr size_t kCookieReceiver = kTypeSize;
inline constexpr size_t kCookieNonce = kCookieReceiver + kIndexSize;
inline constexpr size_t kCookieEncrypted = kCookieNonce + crypto::kXNonceLen;
static_assert(kCookieEncrypted + sizeof(CookieReply::encrypted_cookie) ==
              kCookieReplySize);
static_assert(kCookieReplySize == 64);

// Transport: type | receiver | counter | encrypted packet.
inline constexpr size_t kTransportReceiver = kTypeSize;
inline constexpr size_t kTransportCounter = kTransportReceiver + kIndexSize;
static_assert(kTransportCounter + 8 == kTransportHeaderSize);
static_assert(kTransportHeaderSize == 16 && kTransportMinSize == 32);

template <size_t N>
void Load(const uint8_t* p, std::array<uint8_t, N>& out) {
  std::copy(p, p + N, out.begin());
}
template <size_t N>
void Store(const std::array<uint8_t, N>& in, uint8_t* p) {
  std::copy(in.begin(), in.end(), p);
}

bool Is(ByteSpan datagram, MessageType type) {
  return ClassifyMessage(datagram) == type;
}

}  // namespace

std::optional<MessageType> ClassifyMessage(ByteSpan datagram) {
  if (datagram.size() < kTypeSize) return std::nullopt;
  switch (LoadLe32(datagram.data())) {
    case uint32_t(MessageType::kInitiation):
      if (datagram.size() == kInitiationSize) return MessageType::kInitiation;
      break;
    case uint32_t(MessageType::kResponse):
      if (datagram.size() == kResponseSize) return MessageType::kResponse;
      break;
    case uint32_t(MessageType::kCookieReply):
      if (datagram.size() == kCookieReplySize) return MessageType::kCookieReply;
      break;
    case uint32_t(MessageType::kTransportData):
      // Any length from a bare keepalive up: the receiver does not insist on
      // the sender's padding (as wireguard-go and the kernel).
      if (datagram.size() >= kTransportMinSize)
        return MessageType::kTransportData;
      break;
    default:
      break;
  }
  return std::nullopt;
}

bool ParseInitiation(ByteSpan datagram, Initiation& out) {
  if (!Is(datagram, MessageType::kInitiation)) return false;
  const uint8_t* p = datagram.data();
  out.sender_index = LoadLe32(p + kInitSender);
  Load(p + kInitEphemeral, out.unencrypted_ephemeral);
  Load(p + kInitStatic, out.encrypted_static);
  Load(p + kInitTimestamp, out.encrypted_timestamp);
  Load(p + kInitMac1, out.mac1);
  Load(p + kInitMac2, out.mac2);
  return true;
}

bool ParseResponse(ByteSpan datagram, Response& out) {
  if (!Is(datagram, MessageType::kResponse)) return false;
  const uint8_t* p = datagram.data();
  out.sender_index = LoadLe32(p + kRespSender);
  out.receiver_index = LoadLe32(p + kRespReceiver);
  Load(p + kRespEphemeral, out.unencrypted_ephemeral);
  Load(p + kRespEmpty, out.encrypted_nothing);
  Load(p + kRespMac1, out.mac1);
  Load(p + kRespMac2, out.mac2);
  return true;
}

bool ParseCookieReply(ByteSpan datagram, CookieReply& out) {
  if (!Is(datagram, MessageType::kCookieReply)) return false;
  const uint8_t* p = datagram.data();
  out.receiver_index = LoadLe32(p + kCookieReceiver);
  Load(p + kCookieNonce, out.nonce);
  Load(p + kCookieEncrypted, out.encrypted_cookie);
  return true;
}

bool ParseTransportHeader(ByteSpan datagram, TransportHeader& out) {
  if (!Is(datagram, MessageType::kTransportData)) return false;
  const uint8_t* p = datagram.data();
  out.receiver_index = LoadLe32(p + kTransportReceiver);
  out.counter = LoadLe64(p + kTransportCounter);
  return true;
}

void SerializeInitiation(const Initiation& msg, uint8_t out[kInitiationSize]) {
  StoreLe32(out, uint32_t(MessageType::kInitiation));
  StoreLe32(out + kInitSender, msg.sender_index);
  Store(msg.unencrypted_ephemeral, out + kInitEphemeral);
  Store(msg.encrypted_static, out + kInitStatic);
  Store(msg.encrypted_timestamp, out + kInitTimestamp);
  Store(msg.mac1, out + kInitMac1);
  Store(msg.mac2, out + kInitMac2);
}

void SerializeResponse(const Response& msg, uint8_t out[kResponseSize]) {
  StoreLe32(out, uint32_t(MessageType::kResponse));
  StoreLe32(out + kRespSender, msg.sender_index);
  StoreLe32(out + kRespReceiver, msg.receiver_index);
  Store(msg.unencrypted_ephemeral, out + kRespEphemeral);
  Store(msg.encrypted_nothing, out + kRespEmpty);
  Store(msg.mac1, out + kRespMac1);
  Store(msg.mac2, out + kRespMac2);
}

void SerializeCookieReply(const CookieReply& msg,
                          uint8_t out[kCookieReplySize]) {
  StoreLe32(out, uint32_t(MessageType::kCookieReply));
  StoreLe32(out + kCookieReceiver, msg.receiver_index);
  Store(msg.nonce, out + kCookieNonce);
  Store(msg.encrypted_cookie, out + kCookieEncrypted);
}

void SerializeTransportHeader(const TransportHeader& hdr,
                              uint8_t out[kTransportHeaderSize]) {
  StoreLe32(out, uint32_t(MessageType::kTransportData));
  StoreLe32(out + kTransportReceiver, hdr.receiver_index);
  StoreLe64(out + kTransportCounter, hdr.counter);
}

}  // namespace zl::wg
