#include "wg/messages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

namespace zl::wg {
namespace {

std::vector<uint8_t> Datagram(uint32_t type, size_t size) {
  std::vector<uint8_t> d(size, 0xab);
  if (size >= 4) StoreLe32(d.data(), type);
  return d;
}

template <size_t N>
void Iota(std::array<uint8_t, N>& a, uint8_t start) {
  std::iota(a.begin(), a.end(), start);
}

TEST(MessageTest, SizesAreTheWhitepapers) {
  EXPECT_EQ(kInitiationSize, 148u);
  EXPECT_EQ(kResponseSize, 92u);
  EXPECT_EQ(kCookieReplySize, 64u);
  EXPECT_EQ(kTransportHeaderSize, 16u);
  EXPECT_EQ(kTransportMinSize, 32u);
  EXPECT_EQ(kInitiationMac1Offset + 32, kInitiationSize);
  EXPECT_EQ(kResponseMac1Offset + 32, kResponseSize);
}

struct ClassifyCase {
  uint32_t type_word;
  size_t size;
  std::optional<MessageType> expected;
};

TEST(MessageTest, ClassifyChecksTypeAndLengthTogether) {
  const ClassifyCase cases[] = {
      /*  1 */ {1, kInitiationSize, MessageType::kInitiation},
      /*  2 */ {1, kInitiationSize - 1, std::nullopt},
      /*  3 */ {1, kInitiationSize + 1, std::nullopt},
      /*  4 */ {2, kResponseSize, MessageType::kResponse},
      /*  5 */ {2, kInitiationSize, std::nullopt},
      /*  6 */ {3, kCookieReplySize, MessageType::kCookieReply},
      /*  7 */ {3, kCookieReplySize + 16, std::nullopt},
      /*  8 */
      {4, kTransportMinSize, MessageType::kTransportData},  // keepalive
      /*  9 */ {4, kTransportMinSize - 1, std::nullopt},
      /* 10 */
      {4, kTransportMinSize + 1,
       MessageType::kTransportData},  // no padding check
      /* 11 */ {4, 1500, MessageType::kTransportData},
      /* 12 */ {4, kResponseSize, MessageType::kTransportData},
      /* 13 */ {0, kInitiationSize, std::nullopt},
      /* 14 */ {5, kInitiationSize, std::nullopt},
      /* 15 */ {0x0101, kInitiationSize, std::nullopt},  // reserved byte 1 set
      /* 16 */ {0x01000001, kInitiationSize, std::nullopt},  // reserved byte 3
                                                             // set
      /* 17 */ {0x00010004, 64, std::nullopt},
      /* 18 */ {1, 3, std::nullopt},
      /* 19 */ {1, 0, std::nullopt},
  };
  int n = 0;
  for (const auto& c : cases) {
    ++n;
    EXPECT_EQ(ClassifyMessage(Datagram(c.type_word, c.size)), c.expected)
        << "case " << n;
  }
}

TEST(MessageTest, InitiationLayoutIsLittleEndianAndRoundTrips) {
  Initiation msg;
  msg.sender_index = 0x04030201;
  Iota(msg.unencrypted_ephemeral, 10);
  Iota(msg.encrypted_static, 50);
  Iota(msg.encrypted_timestamp, 110);
  Iota(msg.mac1, 150);
  Iota(msg.mac2, 200);
  uint8_t buf[kInitiationSize];
  SerializeInitiation(msg, buf);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 8),
            (std::vector<uint8_t>{1, 0, 0, 0, 1, 2, 3, 4}));
  EXPECT_EQ(buf[8], 10);
  EXPECT_EQ(buf[40], 50);
  EXPECT_EQ(buf[88], 110);
  EXPECT_EQ(buf[kInitiationMac1Offset], 150);
  EXPECT_EQ(buf[kInitiationMac1Offset + 16], 200);
  EXPECT_EQ(buf[kInitiationSize - 1], 215);

  Initiation parsed;
  ASSERT_TRUE(ParseInitiation(ByteSpan(buf), parsed));
  EXPECT_EQ(parsed.sender_index, msg.sender_index);
  EXPECT_EQ(parsed.unencrypted_ephemeral, msg.unencrypted_ephemeral);
  EXPECT_EQ(parsed.encrypted_static, msg.encrypted_static);
  EXPECT_EQ(parsed.encrypted_timestamp, msg.encrypted_timestamp);
  EXPECT_EQ(parsed.mac1, msg.mac1);
  EXPECT_EQ(parsed.mac2, msg.mac2);
}

TEST(MessageTest, ResponseLayoutIsLittleEndianAndRoundTrips) {
  Response msg;
  msg.sender_index = 0x11223344;
  msg.receiver_index = 0xa1b2c3d4;
  Iota(msg.unencrypted_ephemeral, 1);
  Iota(msg.encrypted_nothing, 100);
  Iota(msg.mac1, 150);
  Iota(msg.mac2, 200);
  uint8_t buf[kResponseSize];
  SerializeResponse(msg, buf);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 12),
            (std::vector<uint8_t>{2, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0xd4,
                                  0xc3, 0xb2, 0xa1}));
  EXPECT_EQ(buf[12], 1);
  EXPECT_EQ(buf[44], 100);
  EXPECT_EQ(buf[kResponseMac1Offset], 150);
  EXPECT_EQ(buf[kResponseMac1Offset + 16], 200);

  Response parsed;
  ASSERT_TRUE(ParseResponse(ByteSpan(buf), parsed));
  EXPECT_EQ(parsed.sender_index, msg.sender_index);
  EXPECT_EQ(parsed.receiver_index, msg.receiver_index);
  EXPECT_EQ(parsed.unencrypted_ephemeral, msg.unencrypted_ephemeral);
  EXPECT_EQ(parsed.encrypted_nothing, msg.encrypted_nothing);
  EXPECT_EQ(parsed.mac1, msg.mac1);
  EXPECT_EQ(parsed.mac2, msg.mac2);
}

TEST(MessageTest, CookieReplyRoundTrips) {
  CookieReply msg;
  msg.receiver_index = 0xdeadbeef;
  Iota(msg.nonce, 1);
  Iota(msg.encrypted_cookie, 100);
  uint8_t buf[kCookieReplySize];
  SerializeCookieReply(msg, buf);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 8),
            (std::vector<uint8_t>{3, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde}));
  EXPECT_EQ(buf[8], 1);
  EXPECT_EQ(buf[32], 100);

  CookieReply parsed;
  ASSERT_TRUE(ParseCookieReply(ByteSpan(buf), parsed));
  EXPECT_EQ(parsed.receiver_index, msg.receiver_index);
  EXPECT_EQ(parsed.nonce, msg.nonce);
  EXPECT_EQ(parsed.encrypted_cookie, msg.encrypted_cookie);
}

TEST(MessageTest, TransportHeaderRoundTrips) {
  TransportHeader hdr{0x01020304, 0x1122334455667788};
  std::vector<uint8_t> buf(kTransportMinSize + 7, 0);
  SerializeTransportHeader(hdr, buf.data());
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + 16),
            (std::vector<uint8_t>{4, 0, 0, 0, 4, 3, 2, 1, 0x88, 0x77, 0x66,
                                  0x55, 0x44, 0x33, 0x22, 0x11}));
  TransportHeader parsed;
  ASSERT_TRUE(ParseTransportHeader(ByteSpan(buf), parsed));
  EXPECT_EQ(parsed.receiver_index, hdr.receiver_index);
  EXPECT_EQ(parsed.counter, hdr.counter);
}

TEST(MessageTest, ParsersRefuseOtherTypesAndLengths) {
  const auto init = Datagram(1, kInitiationSize);
  const auto resp = Datagram(2, kResponseSize);
  const auto cookie = Datagram(3, kCookieReplySize);
  const auto data = Datagram(4, kTransportMinSize);
  Initiation i;
  Response r;
  CookieReply c;
  TransportHeader t;
  EXPECT_FALSE(ParseInitiation(ByteSpan(resp), i));
  EXPECT_FALSE(ParseInitiation(ByteSpan(init).first(kInitiationSize - 1), i));
  EXPECT_FALSE(ParseResponse(ByteSpan(init), r));
  EXPECT_FALSE(ParseCookieReply(ByteSpan(data), c));
  EXPECT_FALSE(ParseTransportHeader(ByteSpan(cookie), t));
  EXPECT_FALSE(
      ParseTransportHeader(ByteSpan(data).first(kTransportMinSize - 1), t));
  EXPECT_FALSE(ParseTransportHeader(ByteSpan(), t));
  EXPECT_TRUE(ParseInitiation(ByteSpan(init), i));
  EXPECT_TRUE(ParseResponse(ByteSpan(resp), r));
  EXPECT_TRUE(ParseCookieReply(ByteSpan(cookie), c));
  EXPECT_TRUE(ParseTransportHeader(ByteSpan(data), t));
}

}  // namespace
}  // namespace zl::wg
