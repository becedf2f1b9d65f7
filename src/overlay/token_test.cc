#include "overlay/token.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "crypto/blake2s.h"
#include "overlay/overlay_test_util.h"

namespace zl::overlay {
namespace {

using test_values::C;

constexpr std::string_view kB64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

JoinToken FullToken() {
  JoinToken t;
  t.id = "0123456789abcdef";
  t.node_name = "web-1";
  for (size_t i = 0; i < t.control_public_key.size(); ++i) {
    t.control_public_key.data()[i] = uint8_t(0xa0 + i);
  }
  t.control_endpoints = {*Endpoint::Parse("192.0.2.1:51820"),
                         *Endpoint::Parse("[2001:db8::1]:51821")};
  t.control_address = *IpAddress::Parse("10.200.0.1");
  t.params.cidr4 = C("10.200.0.0/16");
  t.params.cidr6 = C("fd42::/48");
  t.params.dns_zone = "zlayer.internal";
  t.params.api_port = 1234;
  t.params.dns_port = 5353;
  t.params.probe_port = 4321;
  t.subnet4 = C("10.200.7.0/24");
  t.subnet6 = C("fd42:0:0:7::/64");
  for (size_t i = 0; i < t.onetime_private_key.size(); ++i) {
    t.onetime_private_key.data()[i] = uint8_t(i + 1);
  }
  t.expires_at = 1700003600;
  return t;
}

JoinToken MinimalToken() {
  JoinToken t = FullToken();
  t.node_name.clear();
  t.control_endpoints.resize(1);
  t.params.cidr6.reset();
  t.subnet6.reset();
  return t;
}

void ExpectSameToken(const JoinToken& a, const JoinToken& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.node_name, b.node_name);
  EXPECT_EQ(a.control_public_key, b.control_public_key);
  EXPECT_EQ(a.control_endpoints, b.control_endpoints);
  EXPECT_EQ(a.control_address, b.control_address);
  EXPECT_EQ(a.params.cidr4, b.params.cidr4);
  EXPECT_EQ(a.params.cidr6, b.params.cidr6);
  EXPECT_EQ(a.params.node_prefix4, b.params.node_prefix4);
  EXPECT_EQ(a.params.node_prefix6, b.params.node_prefix6);
  EXPECT_EQ(a.params.dns_zone, b.params.dns_zone);
  EXPECT_EQ(a.params.api_port, b.params.api_port);
  EXPECT_EQ(a.params.dns_port, b.params.dns_port);
  EXPECT_EQ(a.params.probe_port, b.params.probe_port);
  EXPECT_EQ(a.subnet4, b.subnet4);
  EXPECT_EQ(a.subnet6, b.subnet6);
  EXPECT_TRUE(a.onetime_private_key == b.onetime_private_key);
  EXPECT_EQ(a.expires_at, b.expires_at);
}

std::string Text(const JoinToken& t) {
  return std::string(EncodeJoinToken(t).view());
}

// The body of a token text (checksum stripped), and back: for tests that
// spoil the body but keep the checksum right.
std::vector<uint8_t> BodyOf(const std::string& text) {
  auto all =
      Base64UrlDecode(std::string_view(text).substr(kTokenPrefix.size()));
  EXPECT_TRUE(all.has_value());
  all->resize(all->size() - 4);
  return *all;
}

std::string WithChecksum(std::vector<uint8_t> body) {
  crypto::Hash sum = crypto::Blake2s({body});
  body.insert(body.end(), sum.begin(), sum.begin() + 4);
  return std::string(kTokenPrefix) + Base64UrlEncode(body);
}

void ExpectMalformed(std::string_view text, std::string_view part) {
  auto r = ParseJoinToken(text);
  ASSERT_FALSE(r.ok()) << "accepted: " << text;
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_TRUE(r.error().message().starts_with("malformed token: "))
      << r.error().message();
  EXPECT_NE(r.error().message().find(part), std::string::npos)
      << "message: " << r.error().message() << "\nexpected: " << part;
}

TEST(TokenTest, RoundTripsEveryField) {
  for (const JoinToken& t : {FullToken(), MinimalToken()}) {
    auto back = ParseJoinToken(EncodeJoinToken(t).view());
    ASSERT_TRUE(back.ok()) << back.error().message();
    ExpectSameToken(*back, t);
  }
}

TEST(TokenTest, TextIsPrefixedBase64Url) {
  const std::string text = Text(FullToken());
  ASSERT_TRUE(text.starts_with("zlt1_"));
  EXPECT_EQ(text.find_first_not_of(kB64UrlAlphabet, kTokenPrefix.size()),
            std::string::npos);
  EXPECT_LT(text.size(), 300u);  // pasteable
}

// Known answer: the format must not change by accident (a change needs a new
// version byte). Checked independently: Python's base64.urlsafe_b64decode and
// hashlib.blake2s give these fields and this checksum.
TEST(TokenTest, EncodingIsStable) {
  EXPECT_EQ(Text(MinimalToken()),
            "zlt1_AQEjRWeJq83vAKChoqOkpaanqKmqq6ytrq-wsbKztLW2t7i5uru8vb6_"
            "AQTAAAIBbMoECsgAAQQKyAA"
            "AEAAYQA96bGF5ZXIuaW50ZXJuYWzSBOkU4RAECsgHABgAAQIDBAUGBwgJCgsMDQ4PE"
            "BESExQVFhcYGRobHB0"
            "eHyAQ_1NlAAAAAETAQ6s");
}

TEST(TokenTest, SurroundingWhitespaceIsIgnored) {
  auto r = ParseJoinToken("  " + Text(FullToken()) + "\r\n");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ExpectSameToken(*r, FullToken());
}

TEST(TokenTest, EveryMalformationIsReported) {
  const std::string good = Text(FullToken());
  const std::string b64 = good.substr(kTokenPrefix.size());
  ExpectMalformed("", "empty");
  ExpectMalformed(" \n", "empty");
  ExpectMalformed("zlt1_", "truncated");
  ExpectMalformed("zlt2_" + b64, "does not start with \"zlt1_\"");
  ExpectMalformed("ZLT1_" + b64, "does not start with");
  ExpectMalformed(b64, "does not start with");
  ExpectMalformed("zlt1_" + b64.substr(0, 20) + "+" + b64.substr(21),
                  "not base64url");
  ExpectMalformed("zlt1_" + b64.substr(0, 20) + "=" + b64.substr(21),
                  "not base64url");
  ExpectMalformed("zlt1_" + b64 + "=", "not base64url");
  ExpectMalformed("zlt1_" + b64.substr(0, 20) + " " + b64.substr(20),
                  "not base64url");
  ExpectMalformed("zlt1_AAAA", "truncated");
  ExpectMalformed("zlt1_" + std::string(5000, 'A'), "too long");
  // Cut short anywhere: the checksum (or the base64 length) notices.
  for (size_t cut = 1; cut < b64.size(); cut += 3) {
    auto r = ParseJoinToken("zlt1_" + b64.substr(0, b64.size() - cut));
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_EQ(r.error().code(), EINVAL);
  }
  ExpectMalformed("zlt1_" + b64.substr(0, b64.size() - 4),
                  "checksum mismatch (mistyped or truncated?)");
}

TEST(TokenTest, ChecksumCatchesEverySingleChangedCharacter) {
  const std::string good = Text(FullToken());
  for (size_t i = kTokenPrefix.size(); i < good.size(); ++i) {
    for (char replacement : {'A', 'z', '-', '7'}) {
      if (good[i] == replacement) continue;
      std::string bad = good;
      bad[i] = replacement;
      auto r = ParseJoinToken(bad);
      ASSERT_FALSE(r.ok()) << "position " << i;
      EXPECT_EQ(r.error().code(), EINVAL);
      // The last character may instead be refused as non-canonical base64.
      if (i + 1 < good.size()) {
        EXPECT_NE(r.error().message().find("checksum mismatch"),
                  std::string::npos)
            << "position " << i << ": " << r.error().message();
      }
    }
  }
}

TEST(TokenTest, StructuralErrorsBehindAValidChecksum) {
  const std::vector<uint8_t> body = BodyOf(Text(MinimalToken()));
  // Every truncation of the body is refused with a clear message.
  for (size_t n = 1; n < body.size(); ++n) {
    std::vector<uint8_t> cut(body.begin(), body.begin() + n);
    auto r = ParseJoinToken(WithChecksum(cut));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_TRUE(r.error().message().starts_with("malformed token: "))
        << r.error().message();
  }
  ExpectMalformed(
      WithChecksum(std::vector<uint8_t>(body.begin(), body.end() - 3)),
      "truncated (in expiry)");
  ExpectMalformed(
      WithChecksum(std::vector<uint8_t>(body.begin(), body.begin() + 5)),
      "truncated (in id)");

  std::vector<uint8_t> trailing = body;
  trailing.push_back(0);
  ExpectMalformed(WithChecksum(trailing), "1 trailing bytes");

  std::vector<uint8_t> version = body;
  version[0] = 2;
  ExpectMalformed(WithChecksum(version),
                  "unknown version 2 (this build reads version 1)");

  // Single bytes spoiled at known offsets of MinimalToken's body: version 1,
  // id 8, name length 1 (empty), control key 32, then the endpoint count,
  // the endpoint (family, 4 bytes, port 2), the control address (1 + 4) and
  // the overlay CIDR (1 + 4, then its prefix length).
  constexpr size_t kEndpointCount = 1 + 8 + 1 + 32;
  constexpr size_t kCidr4Prefix = kEndpointCount + 1 + 7 + 5 + 5;
  struct Spoil {
    size_t offset;
    uint8_t was, now;
    const char* message;
  };
  const Spoil spoils[] = {
      {kEndpointCount, 1, 9, "9 control endpoints (at most 8)"},
      {kEndpointCount + 1, 4, 5,
       "unknown address family 5 in control endpoint"},
      {kCidr4Prefix, 16, 33, "prefix length /33 too long in overlay CIDR"},
  };
  for (const Spoil& spoil : spoils) {
    std::vector<uint8_t> spoilt = body;
    ASSERT_EQ(spoilt[spoil.offset], spoil.was) << spoil.message;
    spoilt[spoil.offset] = spoil.now;
    ExpectMalformed(WithChecksum(spoilt), spoil.message);
  }
  std::vector<uint8_t> name = body;
  name[9] = 200;  // a name longer than the rest of the body
  ExpectMalformed(WithChecksum(name), "truncated (in node name)");
}

TEST(TokenTest, InvalidFieldValuesAreRefused) {
  struct Case {
    std::function<void(JoinToken&)> mutate;
    const char* part;
  };
  const Case cases[] = {
      {[](JoinToken& t) { t.node_name = "Web"; }, "node name 'Web'"},
      {[](JoinToken& t) { t.node_name = "leader"; }, "reserved"},
      {[](JoinToken& t) { t.control_public_key = crypto::PublicKey(); },
       "control public key is all zero"},
      {[](JoinToken& t) { t.control_endpoints.clear(); },
       "no control endpoint"},
      {[](JoinToken& t) {
         t.control_endpoints[0] = *Endpoint::Parse("192.0.2.1:0");
       },
       "not reachable"},
      {[](JoinToken& t) {
         t.control_endpoints[1] = *Endpoint::Parse("[::]:5");
       },
       "not reachable"},
      {[](JoinToken& t) {
         t.control_address = *IpAddress::Parse("10.201.0.1");
       },
       "control address 10.201.0.1 is outside"},
      {[](JoinToken& t) { t.params.cidr4 = C("10.200.0.1/16"); },
       "params: overlay CIDR"},
      {[](JoinToken& t) { t.params.node_prefix4 = 8; },
       "longer than the pool's"},
      {[](JoinToken& t) { t.params.dns_zone = "Bad Zone"; }, "DNS zone"},
      {[](JoinToken& t) { t.params.api_port = 0; }, "must not be 0"},
      {[](JoinToken& t) { t.subnet4 = C("10.200.7.0/25"); }, "is not a /24"},
      {[](JoinToken& t) { t.subnet4 = C("10.201.7.0/24"); },
       "outside the pool"},
      {[](JoinToken& t) { t.subnet4 = C("10.200.7.1/24"); }, "host bits set"},
      {[](JoinToken& t) { t.subnet4 = C("fd42::/24"); }, "address family"},
      {[](JoinToken& t) { t.subnet6.reset(); },
       "no IPv6 subnet, but the overlay has IPv6"},
      {[](JoinToken& t) { t.params.cidr6.reset(); },
       "an IPv6 subnet, but the overlay has no IPv6"},
      {[](JoinToken& t) { t.subnet6 = C("fd43:0:0:7::/64"); },
       "outside the pool"},
      {[](JoinToken& t) { t.onetime_private_key = crypto::PrivateKey(); },
       "one-time key is all zero"},
      {[](JoinToken& t) { t.expires_at = 0; }, "no expiry"},
      {[](JoinToken& t) { t.expires_at = -5; }, "expiry out of range"},
  };
  for (const auto& c : cases) {
    JoinToken t = FullToken();
    c.mutate(t);
    ExpectMalformed(Text(t), c.part);
  }
}

TEST(TokenTest, ErrorsNeverContainTheKey) {
  JoinToken t = FullToken();
  t.subnet4 = C("10.201.7.0/24");
  const std::string text = Text(t);
  auto r = ParseJoinToken(text);
  ASSERT_FALSE(r.ok());
  const std::string key_b64 = Base64Encode(t.onetime_private_key.span());
  const std::string key_hex = HexEncode(t.onetime_private_key.span());
  EXPECT_EQ(r.error().message().find(key_b64), std::string::npos);
  EXPECT_EQ(r.error().message().find(key_hex), std::string::npos);
  EXPECT_EQ(r.error().message().find(text.substr(5, 20)), std::string::npos);
}

TEST(TokenTest, NewTokenIdIsSixteenHexDigitsAndRandom) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    std::string id = NewTokenId();
    EXPECT_TRUE(ValidateTokenId(id).ok()) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

}  // namespace
}  // namespace zl::overlay
