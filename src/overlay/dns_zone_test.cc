#include "overlay/dns_zone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "overlay/dns_test_util.h"

namespace zl::overlay {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using testing::MakeQuery;
using testing::ParseMessage;
using testing::PktPtr;
using testing::QueryOptions;
using testing::SectionText;
using testing::TestAddressName;
using testing::TestCidr;
using testing::TestMember;
using testing::TestService;
using testing::TestZoneData;

constexpr const char* kSoa =
    "zlayer.internal. 30 IN SOA ns1.zlayer.internal. hostmaster.zlayer.internal. "
    "7 3600 600 86400 30";

class DnsZoneTest : public ::testing::Test {
 protected:
  DnsZoneTest() { zone_.Replace(TestZoneData()); }

  // Asks `name`/`type` and parses the answer (which must parse).
  PktPtr Ask(const std::string& name, ldns_rr_type type, const QueryOptions& o = {},
             DnsZone::Transport transport = DnsZone::Transport::kUdp) {
    std::vector<uint8_t> wire = zone_.Answer(MakeQuery(name, type, o), transport);
    last_size_ = wire.size();
    PktPtr pkt = ParseMessage(wire);
    EXPECT_NE(pkt, nullptr) << "no parsable answer for " << name;
    return pkt;
  }
  std::vector<std::string> Answers(const std::string& name, ldns_rr_type type) {
    PktPtr pkt = Ask(name, type);
    if (!pkt) return {};
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR) << name;
    EXPECT_TRUE(ldns_pkt_aa(pkt.get())) << name;
    return SectionText(pkt.get(), LDNS_SECTION_ANSWER);
  }

  DnsZone zone_;
  size_t last_size_ = 0;
};

TEST_F(DnsZoneTest, MemberNameHasItsOverlayAddress) {
  EXPECT_THAT(Answers("node-a.zlayer.internal.", LDNS_RR_TYPE_A),
              ElementsAre("node-a.zlayer.internal. 30 IN A 10.200.2.1"));
  EXPECT_THAT(Answers("node-b.zlayer.internal.", LDNS_RR_TYPE_AAAA),
              ElementsAre("node-b.zlayer.internal. 30 IN AAAA fd42:0:0:3::1"));
  EXPECT_EQ(zone_.counters().answered, 2u);
}

TEST_F(DnsZoneTest, LeaderIsTheControlNode) {
  EXPECT_THAT(Answers("leader.zlayer.internal.", LDNS_RR_TYPE_A),
              ElementsAre("leader.zlayer.internal. 30 IN A 10.200.1.1"));
  EXPECT_THAT(Answers("leader.zlayer.internal.", LDNS_RR_TYPE_AAAA),
              ElementsAre("leader.zlayer.internal. 30 IN AAAA fd42:0:0:1::1"));
}

TEST_F(DnsZoneTest, AddressDerivedNamesResolve) {
  EXPECT_THAT(Answers("10-200-3-1.zlayer.internal.", LDNS_RR_TYPE_A),
              ElementsAre("10-200-3-1.zlayer.internal. 30 IN A 10.200.3.1"));
  EXPECT_THAT(Answers("fd42-0-0-3--1.zlayer.internal.", LDNS_RR_TYPE_AAAA),
              ElementsAre("fd42-0-0-3--1.zlayer.internal. 30 IN AAAA fd42:0:0:3::1"));
}

TEST_F(DnsZoneTest, RegisteredNameHasItsAddress) {
  EXPECT_THAT(Answers("web.zlayer.internal.", LDNS_RR_TYPE_A),
              ElementsAre("web.zlayer.internal. 30 IN A 10.200.3.5"));
}

TEST_F(DnsZoneTest, PtrForIpv4Addresses) {
  EXPECT_THAT(Answers("1.3.200.10.in-addr.arpa.", LDNS_RR_TYPE_PTR),
              ElementsAre("1.3.200.10.in-addr.arpa. 30 IN PTR node-b.zlayer.internal."));
  EXPECT_THAT(Answers("5.3.200.10.in-addr.arpa.", LDNS_RR_TYPE_PTR),
              ElementsAre("5.3.200.10.in-addr.arpa. 30 IN PTR web.zlayer.internal."));
}

TEST_F(DnsZoneTest, PtrForIpv6Addresses) {
  const std::string name =
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.0.0.0.0.0.0.0.0.2.4.d.f.ip6.arpa.";
  EXPECT_THAT(Answers(name, LDNS_RR_TYPE_PTR),
              ElementsAre(name + " 30 IN PTR node-b.zlayer.internal."));
}

TEST_F(DnsZoneTest, SrvNamesItsTargetAndGivesItsAddresses) {
  PktPtr pkt = Ask("_http._tcp.web.zlayer.internal.", LDNS_RR_TYPE_SRV);
  ASSERT_NE(pkt, nullptr);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER),
              ElementsAre("_http._tcp.web.zlayer.internal. 30 IN SRV 0 0 8080 "
                          "node-b.zlayer.internal."));
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ADDITIONAL),
              UnorderedElementsAre("node-b.zlayer.internal. 30 IN A 10.200.3.1",
                                   "node-b.zlayer.internal. 30 IN AAAA fd42:0:0:3::1"));
}

TEST_F(DnsZoneTest, SoaAtTheApexHasSerialAndMinimumTtl) {
  EXPECT_THAT(Answers("zlayer.internal.", LDNS_RR_TYPE_SOA), ElementsAre(kSoa));
}

TEST_F(DnsZoneTest, NsAtTheApexComesWithGlue) {
  PktPtr pkt = Ask("zlayer.internal.", LDNS_RR_TYPE_NS);
  ASSERT_NE(pkt, nullptr);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER),
              ElementsAre("zlayer.internal. 30 IN NS ns1.zlayer.internal."));
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ADDITIONAL),
              UnorderedElementsAre("ns1.zlayer.internal. 30 IN A 10.200.1.1",
                                   "ns1.zlayer.internal. 30 IN AAAA fd42:0:0:1::1"));
}

TEST_F(DnsZoneTest, AnyGivesEverythingTheNameHas) {
  EXPECT_THAT(Answers("zlayer.internal.", LDNS_RR_TYPE_ANY),
              UnorderedElementsAre(kSoa, "zlayer.internal. 30 IN NS ns1.zlayer.internal."));
  EXPECT_THAT(Answers("node-b.zlayer.internal.", LDNS_RR_TYPE_ANY),
              UnorderedElementsAre("node-b.zlayer.internal. 30 IN A 10.200.3.1",
                                   "node-b.zlayer.internal. 30 IN AAAA fd42:0:0:3::1"));
}

TEST_F(DnsZoneTest, MissingNameIsNxdomainWithTheSoa) {
  PktPtr pkt = Ask("nobody.zlayer.internal.", LDNS_RR_TYPE_A);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(ldns_pkt_aa(pkt.get()));
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER), IsEmpty());
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
  EXPECT_EQ(zone_.counters().nxdomain, 1u);
}

TEST_F(DnsZoneTest, NameBelowAnExistingNameIsNxdomain) {
  PktPtr pkt = Ask("x.node-a.zlayer.internal.", LDNS_RR_TYPE_A);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(DnsZoneTest, ExistingNameWithoutTheTypeIsNodata) {
  PktPtr pkt = Ask("node-a.zlayer.internal.", LDNS_RR_TYPE_AAAA);  // IPv4 only
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ldns_pkt_aa(pkt.get()));
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER), IsEmpty());
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
  EXPECT_EQ(zone_.counters().nodata, 1u);
  EXPECT_EQ(zone_.counters().answered, 0u);
}

TEST_F(DnsZoneTest, EmptyNonTerminalIsNodataNotNxdomain) {
  for (const char* name : {"_tcp.web.zlayer.internal.", "_TCP.Web.zlayer.internal."}) {
    PktPtr pkt = Ask(name, LDNS_RR_TYPE_SRV);
    ASSERT_NE(pkt, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR) << name;
    EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER), IsEmpty());
    EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
  }
}

TEST_F(DnsZoneTest, ReverseZoneAnswersNegativelyWithItsOwnSoa) {
  PktPtr pkt = Ask("9.9.200.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(ldns_pkt_aa(pkt.get()));
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_AUTHORITY),
              ElementsAre("200.10.in-addr.arpa. 30 IN SOA ns1.zlayer.internal. "
                          "hostmaster.zlayer.internal. 7 3600 600 86400 30"));
  // 3.200.10.in-addr.arpa holds 1.3.200.10 and 5.3.200.10: it exists.
  pkt = Ask("3.200.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER), IsEmpty());
}

TEST_F(DnsZoneTest, NamesOutsideOurZonesAreRefused) {
  for (const char* name : {"example.com.", "internal.", ".", "zlayer.internal.evil.",
                           "1.1.168.192.in-addr.arpa.", "10.in-addr.arpa."}) {
    PktPtr pkt = Ask(name, LDNS_RR_TYPE_A);
    ASSERT_NE(pkt, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_REFUSED) << name;
    EXPECT_FALSE(ldns_pkt_aa(pkt.get())) << name;
    EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER), IsEmpty());
  }
  EXPECT_EQ(zone_.counters().refused, 6u);
}

TEST_F(DnsZoneTest, OtherClassesAndZoneTransfersAreRefused) {
  PktPtr chaos =
      Ask("node-a.zlayer.internal.", LDNS_RR_TYPE_A, {.qclass = LDNS_RR_CLASS_CH});
  ASSERT_NE(chaos, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(chaos.get()), LDNS_RCODE_REFUSED);
  PktPtr axfr = Ask("zlayer.internal.", LDNS_RR_TYPE_AXFR, {}, DnsZone::Transport::kTcp);
  ASSERT_NE(axfr, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(axfr.get()), LDNS_RCODE_REFUSED);
}

TEST_F(DnsZoneTest, NamesMatchWhateverTheCaseAndTheQuestionIsEchoedAsSent) {
  PktPtr pkt = Ask("NoDe-A.ZLAYER.Internal.", LDNS_RR_TYPE_A);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_QUESTION),
              ElementsAre("NoDe-A.ZLAYER.Internal. IN A"));
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER),
              ElementsAre("NoDe-A.ZLAYER.Internal. 30 IN A 10.200.2.1"));
  PktPtr ptr = Ask("1.2.200.10.IN-ADDR.ARPA.", LDNS_RR_TYPE_PTR);
  ASSERT_NE(ptr, nullptr);
  EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(ptr.get())), 1u);
}

TEST_F(DnsZoneTest, AnswerCopiesIdAndRecursionDesiredAndSetsNoRecursionAvailable) {
  PktPtr pkt = Ask("node-a.zlayer.internal.", LDNS_RR_TYPE_A, {.id = 0xbeef});
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_id(pkt.get()), 0xbeef);
  EXPECT_TRUE(ldns_pkt_qr(pkt.get()));
  EXPECT_TRUE(ldns_pkt_rd(pkt.get()));
  EXPECT_FALSE(ldns_pkt_ra(pkt.get()));
  EXPECT_FALSE(ldns_pkt_tc(pkt.get()));
  PktPtr no_rd =
      Ask("node-a.zlayer.internal.", LDNS_RR_TYPE_A, {.recursion_desired = false});
  ASSERT_NE(no_rd, nullptr);
  EXPECT_FALSE(ldns_pkt_rd(no_rd.get()));
}

TEST_F(DnsZoneTest, EdnsIsAnsweredWithOurSizeAndTheDoBit) {
  PktPtr pkt = Ask("node-a.zlayer.internal.", LDNS_RR_TYPE_A,
                   {.edns_size = 4096, .dnssec_ok = true});
  ASSERT_NE(pkt, nullptr);
  EXPECT_TRUE(ldns_pkt_edns(pkt.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(pkt.get()), 1232);
  EXPECT_EQ(ldns_pkt_edns_version(pkt.get()), 0);
  EXPECT_TRUE(ldns_pkt_edns_do(pkt.get()));
  EXPECT_EQ(ldns_pkt_arcount(pkt.get()), 0u);  // the OPT is not in the list

  PktPtr plain = Ask("node-a.zlayer.internal.", LDNS_RR_TYPE_A);
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(ldns_pkt_edns(plain.get()));
}

TEST_F(DnsZoneTest, UnknownEdnsVersionGetsBadvers) {
  std::vector<uint8_t> query =
      MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A, {.edns_size = 1232});
  // The OPT record is last: its TTL is extended rcode, version, flags.
  ASSERT_GT(query.size(), 11u);
  const size_t version_at = query.size() - 2 /*rdlen*/ - 4 /*ttl*/ + 1;
  query[version_at] = 1;
  PktPtr pkt = ParseMessage(zone_.Answer(query, DnsZone::Transport::kUdp));
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(pkt.get()), 1);  // BADVERS = 16
  EXPECT_EQ(ldns_pkt_edns_version(pkt.get()), 0);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER), IsEmpty());
}

// 40 services at one name with long targets: about 2.5 KB of SRV records.
DnsZoneData ZoneWithABigAnswer() {
  DnsZoneData d = TestZoneData();
  for (int i = 0; i < 40; ++i) {
    d.names.push_back(TestService("_big._tcp.svc",
                                  "backend-" + std::to_string(i) +
                                      "-with-a-rather-long-name-for-the-test",
                                  uint16_t(9000 + i)));
  }
  return d;
}

TEST_F(DnsZoneTest, UdpAnswerThatDoesNotFitIsTruncated) {
  zone_.Replace(ZoneWithABigAnswer());
  for (std::optional<uint16_t> edns : {std::optional<uint16_t>(), std::optional<uint16_t>(4096),
                                       std::optional<uint16_t>(100)}) {
    PktPtr pkt = Ask("_big._tcp.svc.zlayer.internal.", LDNS_RR_TYPE_SRV, {.edns_size = edns});
    ASSERT_NE(pkt, nullptr);
    EXPECT_TRUE(ldns_pkt_tc(pkt.get()));
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_QUESTION),
                ElementsAre("_big._tcp.svc.zlayer.internal. IN SRV"));
    EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER), IsEmpty());
    EXPECT_LE(last_size_, edns ? 1232u : 512u);
    EXPECT_EQ(ldns_pkt_edns(pkt.get()), edns.has_value());
  }
  EXPECT_EQ(zone_.counters().truncated, 3u);
}

TEST_F(DnsZoneTest, TcpAnswerIsNeverTruncated) {
  zone_.Replace(ZoneWithABigAnswer());
  PktPtr pkt = Ask("_big._tcp.svc.zlayer.internal.", LDNS_RR_TYPE_SRV, {},
                   DnsZone::Transport::kTcp);
  ASSERT_NE(pkt, nullptr);
  EXPECT_FALSE(ldns_pkt_tc(pkt.get()));
  EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())), 40u);
  EXPECT_GT(last_size_, 1232u);
  EXPECT_EQ(zone_.counters().truncated, 0u);
}

TEST_F(DnsZoneTest, AdditionalRecordsGoBeforeTheAnswerIsTruncated) {
  // Eight services whose targets are dual-stack members: the SRV records fit
  // in 512 bytes, their addresses do not.
  DnsZoneData d = TestZoneData();
  for (int i = 0; i < 8; ++i) {
    const std::string n = std::to_string(i + 10);
    d.members.push_back(TestMember("member-" + n, ("10.200." + n + ".0/24").c_str(),
                                   ("fd42:0:0:" + n + "::/64").c_str()));
    d.names.push_back(TestService("_x._udp.many", "member-" + n, 53));
  }
  zone_.Replace(d);
  PktPtr udp = Ask("_x._udp.many.zlayer.internal.", LDNS_RR_TYPE_SRV);
  ASSERT_NE(udp, nullptr);
  EXPECT_FALSE(ldns_pkt_tc(udp.get()));
  EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(udp.get())), 8u);
  EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_additional(udp.get())), 0u);
  PktPtr tcp = Ask("_x._udp.many.zlayer.internal.", LDNS_RR_TYPE_SRV, {},
                   DnsZone::Transport::kTcp);
  ASSERT_NE(tcp, nullptr);
  EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_additional(tcp.get())), 16u);
}

TEST_F(DnsZoneTest, GarbageWithAnIdGetsFormerr) {
  std::vector<uint8_t> header = {0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
  std::vector<std::vector<uint8_t>> bad = {
      header,  // one question announced, none there
      {0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 'a', 'b'},
      {0xab, 0xcd, 0x00, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0},  // two questions
      {0xab, 0xcd, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0},  // none
  };
  std::vector<uint8_t> two_opts = MakeQuery("a.zlayer.internal.", LDNS_RR_TYPE_A, {.id = 0xabcd});
  two_opts[11] = 2;  // two additional records announced
  bad.push_back(two_opts);
  for (const auto& query : bad) {
    std::vector<uint8_t> wire = zone_.Answer(query, DnsZone::Transport::kUdp);
    PktPtr pkt = ParseMessage(wire);
    ASSERT_NE(pkt, nullptr);
    EXPECT_EQ(ldns_pkt_id(pkt.get()), 0xabcd);
    EXPECT_TRUE(ldns_pkt_qr(pkt.get()));
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_FORMERR);
  }
  EXPECT_EQ(zone_.counters().malformed, bad.size());
}

TEST_F(DnsZoneTest, MessagesShorterThanAHeaderGetNothing) {
  for (size_t n = 0; n < 12; ++n) {
    std::vector<uint8_t> query(n, 0);
    EXPECT_THAT(zone_.Answer(query, DnsZone::Transport::kUdp), IsEmpty()) << n;
  }
  EXPECT_EQ(zone_.counters().malformed, 12u);
  EXPECT_EQ(zone_.counters().queries, 12u);
}

TEST_F(DnsZoneTest, ResponsesAreNeverAnswered) {
  std::vector<uint8_t> answer = zone_.Answer(
      MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A), DnsZone::Transport::kUdp);
  ASSERT_FALSE(answer.empty());
  EXPECT_THAT(zone_.Answer(answer, DnsZone::Transport::kUdp), IsEmpty());
  std::vector<uint8_t> garbage(40, 0xff);  // QR set
  EXPECT_THAT(zone_.Answer(garbage, DnsZone::Transport::kTcp), IsEmpty());
}

TEST_F(DnsZoneTest, OtherOpcodesGetNotimpWithTheirOpcode) {
  std::vector<uint8_t> notify = MakeQuery("zlayer.internal.", LDNS_RR_TYPE_SOA);
  notify[2] = (notify[2] & 0x87) | (4 << 3);  // NOTIFY
  std::vector<uint8_t> wire = zone_.Answer(notify, DnsZone::Transport::kUdp);
  PktPtr pkt = ParseMessage(wire);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOTIMPL);
  EXPECT_EQ(ldns_pkt_get_opcode(pkt.get()), LDNS_PACKET_NOTIFY);
  EXPECT_EQ(ldns_pkt_id(pkt.get()), 0x1234);
  std::vector<uint8_t> unassigned = notify;
  unassigned[2] = (unassigned[2] & 0x87) | (15 << 3);
  wire = zone_.Answer(unassigned, DnsZone::Transport::kUdp);
  ASSERT_GE(wire.size(), 12u);
  EXPECT_EQ((wire[2] >> 3) & 0xf, 15);
  EXPECT_EQ(wire[3] & 0xf, LDNS_RCODE_NOTIMPL);
}

TEST_F(DnsZoneTest, NothingIsServedBeforeTheFirstReplace) {
  DnsZone empty;
  std::vector<uint8_t> wire = empty.Answer(MakeQuery("zlayer.internal.", LDNS_RR_TYPE_SOA),
                                           DnsZone::Transport::kUdp);
  PktPtr pkt = ParseMessage(wire);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_REFUSED);
}

TEST_F(DnsZoneTest, RemovedMemberIsGoneEverywhere) {
  DnsZoneData d = TestZoneData();
  d.members.erase(d.members.begin() + 2);  // node-b
  d.names.pop_back();                      // its service
  zone_.Replace(d);
  for (auto [name, type] : std::vector<std::pair<std::string, ldns_rr_type>>{
           {"node-b.zlayer.internal.", LDNS_RR_TYPE_A},
           {"10-200-3-1.zlayer.internal.", LDNS_RR_TYPE_A},
           {"1.3.200.10.in-addr.arpa.", LDNS_RR_TYPE_PTR},
           {"_http._tcp.web.zlayer.internal.", LDNS_RR_TYPE_SRV},
           {"_tcp.web.zlayer.internal.", LDNS_RR_TYPE_SRV}}) {
    PktPtr pkt = Ask(name, type);
    ASSERT_NE(pkt, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN) << name;
  }
  EXPECT_THAT(Answers("node-a.zlayer.internal.", LDNS_RR_TYPE_A),
              ElementsAre("node-a.zlayer.internal. 30 IN A 10.200.2.1"));
}

TEST_F(DnsZoneTest, ChangedAddressReplacesTheOldOne) {
  DnsZoneData d = TestZoneData();
  d.members[1].subnet4 = TestCidr("10.200.9.0/24");  // node-a moves
  d.names[0] = TestAddressName("web", "10.200.3.6");
  d.serial = 8;
  zone_.Replace(d);
  EXPECT_THAT(Answers("node-a.zlayer.internal.", LDNS_RR_TYPE_A),
              ElementsAre("node-a.zlayer.internal. 30 IN A 10.200.9.1"));
  EXPECT_THAT(Answers("web.zlayer.internal.", LDNS_RR_TYPE_A),
              ElementsAre("web.zlayer.internal. 30 IN A 10.200.3.6"));
  PktPtr old_ptr = Ask("1.2.200.10.in-addr.arpa.", LDNS_RR_TYPE_PTR);
  ASSERT_NE(old_ptr, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(old_ptr.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_THAT(Answers("1.9.200.10.in-addr.arpa.", LDNS_RR_TYPE_PTR),
              ElementsAre("1.9.200.10.in-addr.arpa. 30 IN PTR node-a.zlayer.internal."));
  EXPECT_THAT(Answers("zlayer.internal.", LDNS_RR_TYPE_SOA),
              ElementsAre("zlayer.internal. 30 IN SOA ns1.zlayer.internal. "
                          "hostmaster.zlayer.internal. 8 3600 600 86400 30"));
}

TEST_F(DnsZoneTest, ZoneNameMayBeGivenWithADotAndInUpperCase) {
  DnsZoneData d = TestZoneData();
  d.zone = "Overlay.Example.";
  zone_.Replace(d);
  EXPECT_THAT(Answers("node-a.overlay.example.", LDNS_RR_TYPE_A),
              ElementsAre("node-a.overlay.example. 30 IN A 10.200.2.1"));
  PktPtr old_zone = Ask("node-a.zlayer.internal.", LDNS_RR_TYPE_A);
  ASSERT_NE(old_zone, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(old_zone.get()), LDNS_RCODE_REFUSED);
}

TEST_F(DnsZoneTest, InvalidNamesAreSkippedNotServed) {
  DnsZoneData d = TestZoneData();
  d.names.push_back(TestAddressName(std::string(64, 'x'), "10.200.3.7"));  // label > 63
  d.names.push_back(TestService("_bad._tcp.x", "a..b", 1));
  zone_.Replace(d);
  EXPECT_THAT(Answers("node-a.zlayer.internal.", LDNS_RR_TYPE_A), ::testing::SizeIs(1));
  PktPtr pkt = Ask("_bad._tcp.x.zlayer.internal.", LDNS_RR_TYPE_SRV);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(DnsZoneTest, AnswersDuringReplaceSeeOldOrNewDataNeverAMix) {
  DnsZoneData a = TestZoneData();
  DnsZoneData b = TestZoneData();
  b.members[1].subnet4 = TestCidr("10.200.9.0/24");
  std::atomic<bool> done{false};
  std::thread replacer([&] {
    for (int i = 0; i < 200; ++i) zone_.Replace(i % 2 ? a : b);
    done = true;
  });
  const std::vector<uint8_t> query = MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A);
  int answers = 0;
  while (!done || answers < 10) {
    PktPtr pkt = ParseMessage(zone_.Answer(query, DnsZone::Transport::kUdp));
    ASSERT_NE(pkt, nullptr);
    auto records = SectionText(pkt.get(), LDNS_SECTION_ANSWER);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_TRUE(records[0] == "node-a.zlayer.internal. 30 IN A 10.200.2.1" ||
                records[0] == "node-a.zlayer.internal. 30 IN A 10.200.9.1")
        << records[0];
    ++answers;
  }
  replacer.join();
}

// The fuzzer's seeds (fuzz/corpus/dns_fuzz) stay real queries for this zone.
TEST(DnsFuzzCorpusTest, SeedsAreQueriesThatGetAnswers) {
  DnsZone zone;
  zone.Replace(TestZoneData());
  const std::filesystem::path dir = std::filesystem::path(ZL_SOURCE_DIR) / "fuzz/corpus/dns_fuzz";
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<uint8_t> query((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    PktPtr pkt = ParseMessage(zone.Answer(query, DnsZone::Transport::kUdp));
    EXPECT_NE(pkt, nullptr) << entry.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 5);
}

}  // namespace
}  // namespace zl::overlay
