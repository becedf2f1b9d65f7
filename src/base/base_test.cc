#include <gtest/gtest.h>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/ip.h"
#include "base/result.h"

namespace zl {
namespace {

TEST(BytesTest, LittleEndianRoundTrip) {
  uint8_t b[8];
  StoreLe32(b, 0x01020304);
  EXPECT_EQ(b[0], 0x04);
  EXPECT_EQ(b[3], 0x01);
  EXPECT_EQ(LoadLe32(b), 0x01020304u);
  StoreLe64(b, 0x0102030405060708ull);
  EXPECT_EQ(b[0], 0x08);
  EXPECT_EQ(LoadLe64(b), 0x0102030405060708ull);
}

TEST(BytesTest, HexRoundTripAndRejectsBadInput) {
  uint8_t in[3] = {0x00, 0xab, 0xff};
  EXPECT_EQ(HexEncode(in), "00abff");
  uint8_t out[3];
  ASSERT_TRUE(HexDecode("00ABff", out));
  EXPECT_EQ(out[1], 0xab);
  EXPECT_FALSE(HexDecode("00abf", out));
  EXPECT_FALSE(HexDecode("00abfg", out));
}

TEST(BytesTest, Base64MatchesRfc4648Vectors) {
  const std::string in = "foobar";
  const char* expected[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (size_t n = 0; n <= in.size(); ++n) {
    ByteSpan s(reinterpret_cast<const uint8_t*>(in.data()), n);
    EXPECT_EQ(Base64Encode(s), expected[n]);
    std::vector<uint8_t> out(n);
    EXPECT_TRUE(Base64Decode(expected[n], out)) << n;
    EXPECT_TRUE(std::equal(out.begin(), out.end(), s.begin()));
  }
  uint8_t out[2];
  EXPECT_FALSE(Base64Decode("Zm9=", out));  // non-canonical padding bits
  EXPECT_FALSE(Base64Decode("Zm!=", out));
  EXPECT_FALSE(Base64Decode("Zm8", out));
}

TEST(BytesTest, Base64UrlMatchesRfc4648VectorsWithoutPadding) {
  const std::string in = "foobar";
  const char* expected[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  for (size_t n = 0; n <= in.size(); ++n) {
    ByteSpan s(reinterpret_cast<const uint8_t*>(in.data()), n);
    EXPECT_EQ(Base64UrlEncode(s), expected[n]);
    auto out = Base64UrlDecode(expected[n]);
    ASSERT_TRUE(out.has_value()) << n;
    EXPECT_TRUE(std::equal(out->begin(), out->end(), s.begin(), s.end())) << n;
  }
}

TEST(BytesTest, Base64UrlUsesDashAndUnderscore) {
  const uint8_t in[] = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64Encode(in), "+/+/");
  EXPECT_EQ(Base64UrlEncode(in), "-_-_");
  auto out = Base64UrlDecode("-_-_");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, std::vector<uint8_t>(std::begin(in), std::end(in)));
}

TEST(BytesTest, Base64UrlRejectsBadInput) {
  for (const char* bad : {"+/+/", "Zg==", "Zg=", "Z", "Zm9vY", "Zh", "Zm9", "Zm 9v", "Zm9v\n"}) {
    EXPECT_FALSE(Base64UrlDecode(bad).has_value()) << bad;
  }
  // Round trip of every length over all byte values.
  std::vector<uint8_t> all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = uint8_t(255 - i);
  for (size_t n = 0; n <= all.size(); n += 7) {
    ByteSpan s(all.data(), n);
    auto back = Base64UrlDecode(Base64UrlEncode(s));
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_TRUE(std::equal(back->begin(), back->end(), s.begin(), s.end())) << n;
  }
}

TEST(IpTest, ParsesAndFormatsV4AndV6) {
  auto a = IpAddress::Parse("192.0.2.1");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->ToString(), "192.0.2.1");
  auto b = IpAddress::Parse("2001:DB8::1");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->is_v6());
  EXPECT_EQ(b->ToString(), "2001:db8::1");
}

TEST(IpTest, RejectsMalformedAddressesWithMessage) {
  for (const char* bad : {"", "1.2.3", "1.2.3.256", "::g", "1.2.3.4 ", "abc", "1:2:3"}) {
    auto r = IpAddress::Parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_FALSE(r.error().message().empty());
  }
}

TEST(CidrTest, ParsesMasksAndContains) {
  auto c = Cidr::Parse("10.1.2.3/8");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ToString(), "10.1.2.3/8");
  EXPECT_EQ(c->Masked().ToString(), "10.0.0.0/8");
  EXPECT_TRUE(c->Contains(*IpAddress::Parse("10.255.0.1")));
  EXPECT_FALSE(c->Contains(*IpAddress::Parse("11.0.0.1")));
  EXPECT_FALSE(c->Contains(*IpAddress::Parse("::1")));
  auto h = Cidr::Parse("fd00::1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->prefix_len(), 128);
  EXPECT_EQ(Cidr::Parse("fd00::/61")->Masked().ToString(), "fd00::/61");
  EXPECT_EQ(Cidr::Parse("0.0.0.0/0")->prefix_len(), 0);
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/").ok());
  EXPECT_FALSE(Cidr::Parse("fd00::/129").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/-1").ok());
}

TEST(EndpointTest, ParsesBothFormsAndRejectsAmbiguousOnes) {
  auto e4 = Endpoint::Parse("192.0.2.1:51820");
  ASSERT_TRUE(e4.ok());
  EXPECT_EQ(e4->port(), 51820);
  EXPECT_EQ(e4->ToString(), "192.0.2.1:51820");
  auto e6 = Endpoint::Parse("[::1]:51820");
  ASSERT_TRUE(e6.ok());
  EXPECT_TRUE(e6->address().is_v6());
  EXPECT_EQ(e6->ToString(), "[::1]:51820");
  for (const char* bad : {"::1:51820", "[::1]51820", "[::1]:", "1.2.3.4", "1.2.3.4:65536",
                          "1.2.3.4:x", "[1.2.3.4]:1", "[::1:1"}) {
    EXPECT_FALSE(Endpoint::Parse(bad).ok()) << bad;
  }
}

TEST(ResultTest, CarriesValueOrErrno) {
  Result<int> ok = 5;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int> bad = MakeError(EPROTO, "nope");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), EPROTO);
  EXPECT_EQ(bad.error().Wrap("ctx").message(), "ctx: nope");
  EXPECT_EQ(MakeError(0, "x").code(), EINVAL);
}

TEST(ClockTest, FakeClockAdvancesBothClocks) {
  FakeClock clock;
  Now a = clock.Read();
  clock.Advance(std::chrono::seconds(5));
  Now b = clock.Read();
  EXPECT_EQ(b.mono - a.mono, std::chrono::seconds(5));
  EXPECT_EQ(b.wall - a.wall, std::chrono::seconds(5));
}

}  // namespace
}  // namespace zl
