#include "overlay/model.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "overlay/overlay_test_util.h"

namespace zl::overlay {
namespace {

using test_values::A;
using test_values::C;

TEST(ModelTest, NodeAddressIsTheFirstHostOfTheSubnet) {
  const std::pair<const char*, const char*> cases[] = {
      {"10.200.3.0/24", "10.200.3.1"},
      {"10.200.3.7/24", "10.200.3.1"},  // host bits ignored
      {"192.168.1.64/26", "192.168.1.65"},
      {"192.168.1.4/30", "192.168.1.5"},
      {"192.168.1.2/31", "192.168.1.2"},  // no network address to skip
      {"192.168.1.9/32", "192.168.1.9"},
      {"fd42:0:0:3::/64", "fd42:0:0:3::1"},
      {"fd42::/127", "fd42::"},
  };
  for (const auto& [subnet, address] : cases) {
    EXPECT_EQ(NodeAddress(C(subnet)).ToString(), address) << subnet;
  }
}

TEST(ModelTest, MemberAddressesAndAllowedIpsFollowItsSubnets) {
  Member m;
  m.name = "a";
  m.subnet4 = C("10.200.3.0/24");
  EXPECT_EQ(MemberAddresses(m), std::vector<IpAddress>{A("10.200.3.1")});
  EXPECT_EQ(MemberAllowedIps(m), std::vector<Cidr>{C("10.200.3.0/24")});
  m.subnet6 = C("fd42:0:0:3::/64");
  EXPECT_EQ(MemberAddresses(m),
            (std::vector<IpAddress>{A("10.200.3.1"), A("fd42:0:0:3::1")}));
  EXPECT_EQ(MemberAllowedIps(m),
            (std::vector<Cidr>{C("10.200.3.0/24"), C("fd42:0:0:3::/64")}));
}

TEST(ModelTest, ValidateNodeNameTable) {
  const std::string max_label(63, 'a');
  for (const std::string& good :
       {std::string("a"), std::string("node-1"), std::string("0"),
        std::string("web01"), max_label, std::string("leader1")}) {
    EXPECT_TRUE(ValidateNodeName(good).ok()) << good;
  }
  const std::pair<std::string, const char*> bad[] = {
      {"", "empty"},
      {max_label + "a", "longer than 63"},
      {"Node", "lowercase letters"},
      {"a_b", "lowercase letters"},
      {"a.b", "single DNS label"},
      {"-a", "start or end with '-'"},
      {"a-", "start or end with '-'"},
      {"leader", "reserved"},
      {"ns1", "reserved"},
      {"a b", "lowercase letters"},
      {std::string("a\0b", 3), "'a\\x00b'"},
      {"\xff", "'\\xff'"},
  };
  for (const auto& [name, part] : bad) {
    auto r = ValidateNodeName(name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find(part), std::string::npos)
        << r.error().message();
  }
}

OverlayParams GoodParams() {
  OverlayParams p;
  p.cidr4 = C("10.200.0.0/16");
  p.cidr6 = C("fd42::/48");
  return p;
}

TEST(ModelTest, ValidateParamsAcceptsTheDefaultsAndTinyPools) {
  EXPECT_TRUE(ValidateParams(GoodParams()).ok());
  OverlayParams p = GoodParams();
  p.cidr6.reset();
  p.cidr4 = C("192.168.7.0/24");
  p.node_prefix4 = 26;
  p.dns_zone = "corp.example";
  EXPECT_TRUE(ValidateParams(p).ok());
}

TEST(ModelTest, ValidateParamsTable) {
  struct Case {
    void (*mutate)(OverlayParams&);
    const char* part;
  };
  const Case cases[] = {
      {[](OverlayParams& p) { p.cidr4 = C("fd00::/16"); },
       "is not an IPv4 CIDR"},
      {[](OverlayParams& p) { p.cidr6 = C("10.0.0.0/8"); },
       "is not an IPv6 CIDR"},
      {[](OverlayParams& p) { p.cidr4 = C("10.200.0.1/16"); }, "host bits set"},
      {[](OverlayParams& p) { p.node_prefix4 = 16; },
       "longer than the pool's /16"},
      {[](OverlayParams& p) { p.node_prefix4 = 33; }, "at most /32"},
      {[](OverlayParams& p) { p.node_prefix6 = 48; }, "overlay IPv6 CIDR"},
      {[](OverlayParams& p) { p.dns_zone = ""; }, "DNS zone is empty"},
      {[](OverlayParams& p) { p.dns_zone = "zlayer.internal."; },
       "empty label"},
      {[](OverlayParams& p) { p.dns_zone = "ZLayer.internal"; }, "lowercase"},
      {[](OverlayParams& p) { p.api_port = 0; }, "must not be 0"},
      {[](OverlayParams& p) { p.probe_port = 0; }, "must not be 0"},
      {[](OverlayParams& p) { p.dns_port = p.api_port; }, "both TCP port"},
      {[](OverlayParams& p) { p.dns_port = p.probe_port; }, "both UDP port"},
  };
  for (const auto& c : cases) {
    OverlayParams p = GoodParams();
    c.mutate(p);
    auto r = ValidateParams(p);
    ASSERT_FALSE(r.ok()) << c.part;
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find(c.part), std::string::npos)
        << r.error().message();
  }
}

TEST(ModelTest, ValidateTokenId) {
  EXPECT_TRUE(ValidateTokenId("0123456789abcdef").ok());
  for (const char* bad : {"", "0123456789abcde", "0123456789abcdef0",
                          "0123456789ABCDEF", "0123456789abcdeg"}) {
    auto r = ValidateTokenId(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL);
  }
}

DnsRecord AddressRecord(const char* name, const char* address) {
  DnsRecord r;
  r.name = name;
  r.address = A(address);
  return r;
}

DnsRecord ServiceRecord(const char* name, const char* target, uint16_t port) {
  DnsRecord r;
  r.name = name;
  r.target = target;
  r.port = port;
  return r;
}

TEST(ModelTest, ValidateDnsRecordAcceptsAddressAndServiceRecords) {
  for (const DnsRecord& good :
       {AddressRecord("web", "10.200.3.7"), AddressRecord("db.prod", "fd42::7"),
        AddressRecord("leader.x", "10.0.0.1"),
        ServiceRecord("_http._tcp.web", "web", 80),
        ServiceRecord("_sip._udp.voice.prod", "node-1", 5060)}) {
    auto r = ValidateDnsRecord(good);
    EXPECT_TRUE(r.ok()) << good.name << ": " << r.error().message();
  }
}

TEST(ModelTest, ValidateDnsRecordTable) {
  DnsRecord with_port = AddressRecord("web", "10.0.0.1");
  with_port.port = 80;
  DnsRecord service_with_address = ServiceRecord("_http._tcp.web", "web", 80);
  service_with_address.address = A("10.0.0.1");
  DnsRecord no_address;
  no_address.name = "web";
  const std::pair<DnsRecord, const char*> cases[] = {
      {AddressRecord("", "10.0.0.1"), "empty"},
      {AddressRecord("Web", "10.0.0.1"), "lowercase"},
      {AddressRecord("a..b", "10.0.0.1"), "empty label"},
      {AddressRecord("web.", "10.0.0.1"), "empty label"},
      {AddressRecord("we_b", "10.0.0.1"), "lowercase"},
      {AddressRecord("leader", "10.0.0.1"), "reserved"},
      {AddressRecord("ns1", "10.0.0.1"), "reserved"},
      {AddressRecord("web", "0.0.0.0"), "needs an address"},
      {AddressRecord("web", "::"), "needs an address"},
      {no_address, "needs an address"},
      {with_port, "address record"},
      {AddressRecord(std::string(254, 'a').c_str(), "10.0.0.1"),
       "longer than 253"},
      {ServiceRecord("_http", "web", 80), "_service._proto.host"},
      {ServiceRecord("_http._tcp", "web", 80), "_service._proto.host"},
      {ServiceRecord("_http.tcp.web", "web", 80), "_service._proto.host"},
      {ServiceRecord("_ht_tp._tcp.web", "web", 80), "service label"},
      {ServiceRecord("_http._tcp.we_b", "web", 80), "service host name"},
      {ServiceRecord("_http._tcp.web", "", 80), "SRV target is empty"},
      {ServiceRecord("_http._tcp.web", "_x", 80), "SRV target"},
      {ServiceRecord("_http._tcp.web", "web", 0), "needs a port"},
      {service_with_address, "no address"},
  };
  for (const auto& [record, part] : cases) {
    auto r = ValidateDnsRecord(record);
    ASSERT_FALSE(r.ok()) << record.name;
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find(part), std::string::npos)
        << record.name << ": " << r.error().message();
  }
}

TEST(ModelTest, EnumNames) {
  EXPECT_STREQ(TokenStateName(TokenRecord::State::kPending), "pending");
  EXPECT_STREQ(TokenStateName(TokenRecord::State::kUsed), "used");
  EXPECT_STREQ(TokenStateName(TokenRecord::State::kRevoked), "revoked");
  EXPECT_STREQ(ChangeKindName(Change::Kind::kMemberUpsert), "member_upsert");
  EXPECT_STREQ(ChangeKindName(Change::Kind::kMemberRemoved), "member_removed");
  EXPECT_STREQ(ChangeKindName(Change::Kind::kNameUpsert), "name_upsert");
  EXPECT_STREQ(ChangeKindName(Change::Kind::kNameRemoved), "name_removed");
}

TEST(ModelTest, TokenExpiryIsForPendingTokensOnly) {
  TokenRecord t;
  t.expires_at = 100;
  EXPECT_FALSE(t.Expired(99));
  EXPECT_TRUE(t.Expired(100));
  t.state = TokenRecord::State::kUsed;
  EXPECT_FALSE(t.Expired(1000));
}

}  // namespace
}  // namespace zl::overlay
