#include "overlay/model_json.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "overlay/overlay_test_util.h"

namespace zl::overlay {
namespace {

using test_values::C;

using nlohmann::json;

crypto::PublicKey Key(uint8_t fill) {
  crypto::PublicKey k;
  for (size_t i = 0; i < k.size(); ++i) k.data()[i] = uint8_t(fill + i);
  return k;
}

OverlayParams Params() {
  OverlayParams p;
  p.cidr4 = C("10.200.0.0/16");
  p.cidr6 = C("fd42::/48");
  return p;
}

Member MakeMember(const char* name, uint8_t index, bool control = false) {
  Member m;
  m.name = name;
  m.public_key = Key(index);
  m.subnet4 = Cidr(IpAddress::V4(0x0ac80000u | (uint32_t(index) << 8)), 24);
  uint8_t v6[16] = {0xfd, 0x42, 0, 0, 0, 0, 0, index};
  m.subnet6 = Cidr(IpAddress::V6(v6), 64);
  m.endpoint = *Endpoint::Parse("192.0.2.1:51820");
  m.control = control;
  m.joined_at = 1700000000;
  m.revision = index + 1;
  return m;
}

TokenRecord MakeToken() {
  TokenRecord t;
  t.id = "0123456789abcdef";
  t.node_name = "web";
  t.onetime_public_key = Key(9);
  t.subnet4 = C("10.200.9.0/24");
  t.subnet6 = C("fd42:0:0:9::/64");
  t.created_at = 1700000000;
  t.expires_at = 1700003600;
  return t;
}

DnsRecord AddressRecord() {
  DnsRecord r;
  r.name = "db";
  r.address = *IpAddress::Parse("10.200.1.7");
  r.revision = 3;
  return r;
}

DnsRecord ServiceRecord() {
  DnsRecord r;
  r.name = "_http._tcp.web";
  r.target = "web";
  r.port = 8080;
  r.revision = 4;
  return r;
}

StoreSnapshot Snapshot() {
  StoreSnapshot s;
  s.revision = 10;
  s.params = Params();
  s.members = {MakeMember("a", 0, true), MakeMember("b", 1),
               MakeMember("c", 2)};
  s.names = {ServiceRecord(), AddressRecord()};  // '_' sorts before 'd'
  return s;
}

Delta MakeDelta() {
  Delta d;
  d.revision = 12;
  Change up;
  up.revision = 10;
  up.kind = Change::Kind::kMemberUpsert;
  up.member = MakeMember("b", 1);
  up.name = "b";
  Change gone;
  gone.revision = 11;
  gone.kind = Change::Kind::kMemberRemoved;
  gone.name = "c";
  Change name;
  name.revision = 12;
  name.kind = Change::Kind::kNameUpsert;
  name.record = AddressRecord();
  name.name = "db";
  d.changes = {up, gone, name};
  return d;
}

bool SameMember(const Member& a, const Member& b) {
  return a.name == b.name && a.public_key == b.public_key &&
         a.subnet4 == b.subnet4 && a.subnet6 == b.subnet6 &&
         a.endpoint == b.endpoint && a.control == b.control &&
         a.joined_at == b.joined_at && a.revision == b.revision;
}

// --- round trips: from JSON back to the same JSON (every field compared) ---

template <typename T, typename FromJson>
void ExpectRoundTrip(const T& value, FromJson from_json) {
  const json j = ToJson(value);
  auto back = from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().message() << "\n" << j.dump();
  EXPECT_EQ(ToJson(*back), j);
  // And through text.
  auto parsed = ParseJson(DumpJson(j));
  ASSERT_TRUE(parsed.ok());
  auto again = from_json(*parsed);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(ToJson(*again), j);
}

TEST(ModelJsonTest, RoundTripsEveryType) {
  ExpectRoundTrip(Params(), ParamsFromJson);
  OverlayParams v4_only;
  v4_only.cidr4 = C("192.168.0.0/24");
  v4_only.node_prefix4 = 28;
  ExpectRoundTrip(v4_only, ParamsFromJson);
  ExpectRoundTrip(MakeMember("a", 0, true), MemberFromJson);
  Member bare = MakeMember("b", 1);
  bare.subnet6.reset();
  bare.endpoint.reset();
  ExpectRoundTrip(bare, MemberFromJson);
  Member v6_endpoint = MakeMember("c", 2);
  v6_endpoint.endpoint = *Endpoint::Parse("[2001:db8::1]:51820");
  ExpectRoundTrip(v6_endpoint, MemberFromJson);
  ExpectRoundTrip(MakeToken(), TokenRecordFromJson);
  TokenRecord used = MakeToken();
  used.state = TokenRecord::State::kUsed;
  used.used_by = "web";
  ExpectRoundTrip(used, TokenRecordFromJson);
  ExpectRoundTrip(AddressRecord(), DnsRecordFromJson);
  ExpectRoundTrip(ServiceRecord(), DnsRecordFromJson);
  for (const Change& c : MakeDelta().changes) {
    ExpectRoundTrip(c, ChangeFromJson);
  }
  ExpectRoundTrip(MakeDelta(), DeltaFromJson);
  Delta resync;
  resync.revision = 7;
  resync.full_resync = true;
  ExpectRoundTrip(resync, DeltaFromJson);
  ExpectRoundTrip(Snapshot(), SnapshotFromJson);
  ExpectRoundTrip(StoreSnapshot{.revision = 0, .params = Params()},
                  SnapshotFromJson);
}

TEST(ModelJsonTest, MemberFieldsSurviveTheRoundTrip) {
  const Member m = MakeMember("node-7", 7);
  auto back = MemberFromJson(ToJson(m));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(SameMember(*back, m));
}

// Known answer: the wire form must not change by accident.
TEST(ModelJsonTest, MemberWireFormIsStable) {
  Member m = MakeMember("b", 1);
  EXPECT_EQ(
      DumpJson(ToJson(m)),
      R"({"control":false,"endpoint":"192.0.2.1:51820","joined_at":1700000000,)"
      R"("name":"b","public_key":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",)"
      R"("revision":2,"subnet4":"10.200.1.0/24","subnet6":"fd42:0:0:1::/64"})");
  EXPECT_EQ(DumpJson(ToJson(Params())),
            R"({"api_port":51880,"cidr4":"10.200.0.0/16","cidr6":"fd42::/48",)"
            R"("dns_port":53,"dns_zone":"zlayer.internal","node_prefix4":24,)"
            R"("node_prefix6":64,"probe_port":51881})");
}

TEST(ModelJsonTest, TokenRecordJsonHoldsNoSecret) {
  const json j = ToJson(MakeToken());
  for (auto it = j.begin(); it != j.end(); ++it) {
    EXPECT_EQ(it.key().find("private"), std::string::npos) << it.key();
    EXPECT_EQ(it.key().find("secret"), std::string::npos) << it.key();
  }
  EXPECT_EQ(j.at("onetime_public_key"), Key(9).ToBase64());
}

TEST(ModelJsonTest, UnknownFieldsAreIgnoredAndNullMeansUnset) {
  json j = ToJson(MakeMember("a", 0));
  j["added_by_a_newer_node"] = {1, 2, 3};
  j["endpoint"] = nullptr;
  j["subnet6"] = nullptr;
  auto m = MemberFromJson(j);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_FALSE(m->endpoint.has_value());
  EXPECT_FALSE(m->subnet6.has_value());
}

// One bad input: `mutate` spoils a good JSON; the error must be EINVAL and
// contain `part`.
struct BadCase {
  std::function<void(json&)> mutate;
  const char* part;
};

template <typename FromJson>
void ExpectAllRejected(const json& good, FromJson from_json,
                       const std::vector<BadCase>& cases) {
  ASSERT_TRUE(from_json(good).ok());
  for (const auto& c : cases) {
    json j = good;
    c.mutate(j);
    auto r = from_json(j);
    ASSERT_FALSE(r.ok()) << "accepted: " << j.dump();
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find(c.part), std::string::npos)
        << "message: " << r.error().message() << "\nexpected: " << c.part;
  }
}

TEST(ModelJsonTest, MemberRejectsBadFields) {
  const std::string zero_key = crypto::PublicKey().ToBase64();
  ExpectAllRejected(
      ToJson(MakeMember("b", 1)), MemberFromJson,
      {
          {[](json& j) { j = json::array(); },
           "member: expected a JSON object"},
          {[](json& j) { j = "member"; }, "expected a JSON object"},
          {[](json& j) { j.erase("name"); }, "member.name: missing"},
          {[](json& j) { j["name"] = 7; }, "member.name: expected a string"},
          {[](json& j) { j["name"] = "Bad_Name"; }, "member.name: node name"},
          {[](json& j) { j["name"] = "leader"; }, "reserved"},
          {[](json& j) { j["public_key"] = "AQID"; },
           "member.public_key: expected a key in base64"},
          {[](json& j) { j["public_key"] = std::string(44, '!'); }, "base64"},
          {[](json& j) { j["public_key"] = Key(1).ToHex(); }, "base64"},
          {[zero_key](json& j) { j["public_key"] = zero_key; }, "all zero"},
          {[](json& j) { j.erase("subnet4"); }, "member.subnet4: missing"},
          {[](json& j) { j["subnet4"] = "10.200.1.1/24"; }, "host bits set"},
          {[](json& j) { j["subnet4"] = "fd42::/64"; }, "is not an IPv4 CIDR"},
          {[](json& j) { j["subnet4"] = "10.200.1.0/33"; },
           "invalid prefix length"},
          {[](json& j) { j["subnet4"] = "ten/8"; }, "invalid IP address"},
          {[](json& j) { j["subnet4"] = std::string(1000, '1'); },
           "too long for an address"},
          {[](json& j) { j["subnet6"] = "10.0.0.0/8"; }, "is not an IPv6 CIDR"},
          {[](json& j) { j["endpoint"] = "192.0.2.1"; }, "missing port"},
          {[](json& j) { j["endpoint"] = "192.0.2.1:0"; },
           "not a reachable endpoint"},
          {[](json& j) { j["endpoint"] = "0.0.0.0:51820"; },
           "not a reachable endpoint"},
          {[](json& j) { j["endpoint"] = "fd42::1:51820"; }, "[address]:port"},
          {[](json& j) { j["endpoint"] = 51820; }, "expected a string"},
          {[](json& j) { j["control"] = 1; },
           "member.control: expected true or false"},
          {[](json& j) { j["control"] = "true"; }, "expected true or false"},
          {[](json& j) { j["joined_at"] = -1; },
           "member.joined_at: expected an integer"},
          {[](json& j) { j["joined_at"] = 1.5; }, "expected an integer"},
          {[](json& j) { j["joined_at"] = 1.0; }, "expected an integer"},
          {[](json& j) { j["joined_at"] = "1700000000"; },
           "expected an integer"},
          {[](json& j) { j["joined_at"] = uint64_t(1) << 63; }, "out of range"},
          {[](json& j) { j.erase("revision"); }, "member.revision: missing"},
          {[](json& j) { j["revision"] = nullptr; },
           "member.revision: missing"},
      });
}

TEST(ModelJsonTest, ParamsRejectBadFields) {
  ExpectAllRejected(
      ToJson(Params()), ParamsFromJson,
      {
          {[](json& j) { j["cidr4"] = "10.200.0.0/24"; },
           "longer than the pool's /24"},
          {[](json& j) { j["node_prefix4"] = 33; },
           "params.node_prefix4: 33 is out of range"},
          {[](json& j) { j["node_prefix6"] = 300; }, "out of range (0..128)"},
          {[](json& j) { j["node_prefix6"] = 40; }, "overlay IPv6 CIDR"},
          {[](json& j) { j["dns_zone"] = "Zone"; }, "params: DNS zone"},
          {[](json& j) { j["dns_zone"] = ""; }, "DNS zone is empty"},
          {[](json& j) { j["api_port"] = 0; }, "params.api_port: port 0"},
          {[](json& j) { j["dns_port"] = 65536; }, "out of range"},
          {[](json& j) { j["probe_port"] = 53; }, "both UDP port"},
          {[](json& j) { j.erase("probe_port"); },
           "params.probe_port: missing"},
          {[](json& j) { j["cidr6"] = "fd42::1/48"; }, "host bits set"},
      });
}

TEST(ModelJsonTest, TokenRecordRejectsBadFields) {
  ExpectAllRejected(
      ToJson(MakeToken()), TokenRecordFromJson,
      {
          {[](json& j) { j["id"] = "0123"; }, "token.id: token id must be 16"},
          {[](json& j) { j["id"] = "0123456789ABCDEF"; }, "16 lowercase hex"},
          {[](json& j) { j["node_name"] = "-x"; }, "token.node_name"},
          {[](json& j) { j["state"] = "lost"; },
           "token.state: unknown token state"},
          {[](json& j) { j["state"] = "used"; },
           "token.used_by: node name is empty"},
          {[](json& j) { j["used_by"] = "web"; },
           "set, but the token is not used"},
          {[](json& j) { j["expires_at"] = 5; }, "before created_at"},
          {[](json& j) { j.erase("onetime_public_key"); }, "missing"},
      });
}

TEST(ModelJsonTest, DnsRecordRejectsBadFields) {
  ExpectAllRejected(
      ToJson(AddressRecord()), DnsRecordFromJson,
      {
          {[](json& j) { j["name"] = "DB"; }, "record: DNS name"},
          {[](json& j) { j.erase("address"); }, "needs an address"},
          {[](json& j) { j["address"] = "10.0.0.256"; }, "record.address"},
          {[](json& j) { j["port"] = 80; }, "address record"},
          {[](json& j) { j["port"] = -80; },
           "record.port: expected an integer"},
      });
  ExpectAllRejected(
      ToJson(ServiceRecord()), DnsRecordFromJson,
      {
          {[](json& j) { j.erase("port"); }, "needs a port"},
          {[](json& j) { j["target"] = ""; }, "SRV target is empty"},
          {[](json& j) { j["address"] = "10.0.0.1"; }, "no address"},
          {[](json& j) { j["name"] = "_http.web"; }, "_service._proto.host"},
      });
}

TEST(ModelJsonTest, ChangeRejectsInconsistentKinds) {
  const Delta d = MakeDelta();
  ExpectAllRejected(ToJson(d.changes[0]), ChangeFromJson,
                    {
                        {[](json& j) { j["revision"] = 0; },
                         "change.revision: must be at least 1"},
                        {[](json& j) { j["kind"] = "member_renamed"; },
                         "unknown change kind"},
                        {[](json& j) { j.erase("member"); },
                         "change.member: missing (member_upsert)"},
                        {[](json& j) { j["name"] = "other"; }, "name differs"},
                        {[](json& j) { j["member"]["subnet4"] = "x"; },
                         "change.member.subnet4"},
                        {[](json& j) { j["record"] = ToJson(AddressRecord()); },
                         "only for name_upsert"},
                        {[](json& j) { j["kind"] = "member_removed"; },
                         "only for member_upsert"},
                        {[](json& j) { j["name"] = "Bad"; }, "change.name"},
                    });
  ExpectAllRejected(
      ToJson(d.changes[2]), ChangeFromJson,
      {
          {[](json& j) { j.erase("record"); },
           "change.record: missing (name_upsert)"},
          {[](json& j) { j["record"]["name"] = "dc"; }, "name differs"},
          {[](json& j) { j["kind"] = "name_removed"; }, "only for name_upsert"},
      });
}

TEST(ModelJsonTest, DeltaRejectsDisorderedChanges) {
  ExpectAllRejected(
      ToJson(MakeDelta()), DeltaFromJson,
      {
          {[](json& j) { j["revision"] = 11; },
           "delta.changes[2]: revision past"},
          {[](json& j) { j["changes"][1]["revision"] = 10; },
           "strictly ascending"},
          {[](json& j) { j["full_resync"] = true; },
           "must be empty with full_resync"},
          {[](json& j) { j["full_resync"] = 0; },
           "delta.full_resync: expected true"},
          {[](json& j) { j["changes"] = json::object(); },
           "delta.changes: expected an array"},
          {[](json& j) { j["changes"][0] = 5; },
           "delta.changes[0]: expected a JSON object"},
          {[](json& j) { j.erase("changes"); }, "delta.changes: missing"},
      });
}

TEST(ModelJsonTest, SnapshotRejectsInconsistentMembersAndNames) {
  ExpectAllRejected(
      ToJson(Snapshot()), SnapshotFromJson,
      {
          {[](json& j) { j["members"][1]["name"] = "d"; },
           "strictly ascending by name"},
          {[](json& j) { j["members"][1]["name"] = "a"; },
           "strictly ascending by name"},
          {[](json& j) {
             j["members"][1]["public_key"] = j["members"][0]["public_key"];
           },
           "snapshot.members[1]: public key already another member's"},
          {[](json& j) { j["members"][1]["subnet4"] = "10.200.0.0/24"; },
           "subnet4: already"},
          {[](json& j) { j["members"][1]["subnet6"] = "fd42::/64"; },
           "subnet6: already"},
          {[](json& j) { j["members"][1]["subnet4"] = "10.201.0.0/24"; },
           "snapshot.members[1].subnet4: subnet 10.201.0.0/24 is outside the "
           "pool"},
          {[](json& j) { j["members"][1]["subnet4"] = "10.200.1.0/25"; },
           "is not a /24"},
          {[](json& j) { j["members"][1].erase("subnet6"); },
           "missing, but the overlay has IPv6"},
          {[](json& j) { j["params"].erase("cidr6"); },
           "set, but the overlay has no IPv6"},
          {[](json& j) { j["members"][2]["control"] = true; },
           "a second control member"},
          {[](json& j) { j["members"][2]["revision"] = 11; },
           "revision: past the snapshot's"},
          {[](json& j) { j["names"][1]["name"] = "b"; },
           "'b' is a member's name"},
          {[](json& j) { j["names"][1] = j["names"][0]; },
           "names must be strictly ascending"},
          {[](json& j) { j["names"][0]["revision"] = 99; },
           "past the snapshot's"},
          {[](json& j) { j["params"]["node_prefix4"] = 25; }, "is not a /25"},
          {[](json& j) { j.erase("params"); }, "snapshot.params: missing"},
          {[](json& j) { j["params"] = 1; },
           "snapshot.params: expected a JSON object"},
          {[](json& j) { j["names"] = nullptr; }, "snapshot.names: missing"},
      });
}

TEST(ModelJsonTest, ParseJsonReportsErrorsWithoutThrowing) {
  for (const char* bad :
       {"", "{", "{\"a\":}", "[1,2", "\"\xff\"", "nul", "{} {}"}) {
    auto r = ParseJson(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find("invalid JSON"), std::string::npos);
  }
  auto deep = ParseJson(std::string(65, '[') + std::string(65, ']'));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message().find("nested deeper than 64"),
            std::string::npos);
  EXPECT_FALSE(ParseJson(std::string(1000000, '[')).ok());
  // Brackets inside strings are text, not nesting.
  auto text = ParseJson("{\"a\":\"" + std::string(100, '[') + "\\\"]\"}");
  ASSERT_TRUE(text.ok()) << text.error().message();
  EXPECT_TRUE(ParseJson(std::string(64, '[') + std::string(64, ']')).ok());
}

// The fuzzer's seeds stay valid wire messages when the format changes.
TEST(ModelJsonTest, SeedCorpusIsAccepted) {
  const std::string dir =
      std::string(ZL_SOURCE_DIR) + "/fuzz/corpus/model_json_fuzz/";
  const std::pair<const char*, std::function<bool(const json&)>> seeds[] = {
      {"params.json", [](const json& j) { return ParamsFromJson(j).ok(); }},
      {"params_v4_only.json",
       [](const json& j) { return ParamsFromJson(j).ok(); }},
      {"member_control.json",
       [](const json& j) { return MemberFromJson(j).ok(); }},
      {"member_v6_endpoint.json",
       [](const json& j) { return MemberFromJson(j).ok(); }},
      {"member_no_endpoint.json",
       [](const json& j) { return MemberFromJson(j).ok(); }},
      {"token_pending.json",
       [](const json& j) { return TokenRecordFromJson(j).ok(); }},
      {"token_used.json",
       [](const json& j) { return TokenRecordFromJson(j).ok(); }},
      {"record_a.json",
       [](const json& j) { return DnsRecordFromJson(j).ok(); }},
      {"record_aaaa.json",
       [](const json& j) { return DnsRecordFromJson(j).ok(); }},
      {"record_srv.json",
       [](const json& j) { return DnsRecordFromJson(j).ok(); }},
      {"change_member_upsert.json",
       [](const json& j) { return ChangeFromJson(j).ok(); }},
      {"change_member_removed.json",
       [](const json& j) { return ChangeFromJson(j).ok(); }},
      {"change_name_upsert.json",
       [](const json& j) { return ChangeFromJson(j).ok(); }},
      {"change_name_removed.json",
       [](const json& j) { return ChangeFromJson(j).ok(); }},
      {"delta.json", [](const json& j) { return DeltaFromJson(j).ok(); }},
      {"delta_resync.json",
       [](const json& j) { return DeltaFromJson(j).ok(); }},
      {"snapshot.json", [](const json& j) { return SnapshotFromJson(j).ok(); }},
      {"bad_member_host_bits.json",
       [](const json& j) { return !MemberFromJson(j).ok(); }},
      {"bad_delta_order.json",
       [](const json& j) { return !DeltaFromJson(j).ok(); }},
  };
  for (const auto& [file, accepted] : seeds) {
    std::ifstream in(dir + file);
    ASSERT_TRUE(in) << file;
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    auto j = ParseJson(text);
    ASSERT_TRUE(j.ok()) << file;
    EXPECT_TRUE(accepted(*j)) << file;
  }
}

TEST(ModelJsonTest, DumpJsonReplacesInvalidUtf8) {
  json j = {{"name", std::string("a\xff")}};
  EXPECT_EQ(DumpJson(j), "{\"name\":\"a\xEF\xBF\xBD\"}");
}

}  // namespace
}  // namespace zl::overlay
