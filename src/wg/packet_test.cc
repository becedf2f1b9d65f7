#include "wg/packet.h"

#include <gtest/gtest.h>

#include <vector>

#include "wg/engine_test_util.h"

namespace zl::wg {
namespace {

using harness::Ip;
using harness::Ipv4Packet;
using harness::Ipv6Packet;

TEST(EnginePacketTest, Ipv4HeaderGivesLengthAndAddresses) {
  auto p = Ipv4Packet("10.1.2.3", "10.4.5.6", 30);
  p.resize(p.size() + 7);  // padding after the packet is allowed
  IpPacketInfo info;
  ASSERT_TRUE(InspectIpPacket(ByteSpan(p), info));
  EXPECT_EQ(info.family, IpAddress::Family::kV4);
  EXPECT_EQ(info.length, 50u);
  EXPECT_EQ(IpAddress::V4(info.source), Ip("10.1.2.3"));
  EXPECT_EQ(IpAddress::V4(info.destination), Ip("10.4.5.6"));
}

TEST(EnginePacketTest, Ipv6HeaderGivesLengthAndAddresses) {
  auto p = Ipv6Packet("fd00::a", "fd00::b", 12);
  IpPacketInfo info;
  ASSERT_TRUE(InspectIpPacket(ByteSpan(p), info));
  EXPECT_EQ(info.family, IpAddress::Family::kV6);
  EXPECT_EQ(info.length, 52u);
  EXPECT_EQ(IpAddress::V6(info.source), Ip("fd00::a"));
  EXPECT_EQ(IpAddress::V6(info.destination), Ip("fd00::b"));
}

TEST(EnginePacketTest, MalformedHeadersAreRejected) {
  struct Case {
    const char* name;
    std::vector<uint8_t> packet;
  };
  auto v4 = Ipv4Packet("10.0.0.1", "10.0.0.2", 10);
  auto v6 = Ipv6Packet("fd00::1", "fd00::2", 10);
  auto v4_long = v4;
  StoreBe16(&v4_long[2], uint16_t(v4.size() + 1));
  auto v4_short = v4;
  StoreBe16(&v4_short[2], 19);
  auto v6_long = v6;
  StoreBe16(&v6_long[4], 11);
  auto v5 = v4;
  v5[0] = 0x55;
  const Case cases[] = {
      {"empty", {}},
      {"truncated ipv4 header",
       std::vector<uint8_t>(v4.begin(), v4.begin() + 19)},
      {"truncated ipv6 header",
       std::vector<uint8_t>(v6.begin(), v6.begin() + 39)},
      {"ipv4 length past the buffer", v4_long},
      {"ipv4 length below the header", v4_short},
      {"ipv6 length past the buffer", v6_long},
      {"version 5", v5},
  };
  for (const Case& c : cases) {
    IpPacketInfo info;
    EXPECT_FALSE(InspectIpPacket(ByteSpan(c.packet), info)) << c.name;
  }
}

}  // namespace
}  // namespace zl::wg
