// Endpoint scopes (IPv6 zones): parsing, printing, comparison. The forms
// without a zone are covered in base_test.cc.
#ifdef _WIN32
#include <winsock2.h>
#include <ws2ipdef.h>
#include <iphlpapi.h>
#include <netioapi.h>
#else
#include <net/if.h>
#endif

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <vector>

#include "base/ip.h"

namespace zl {
namespace {

// The loopback interface's name: "lo" on Linux; on Windows "loopback_N"
// (loopback_0 on Windows, loopback_1 under wine), found by index.
std::string LoopbackName() {
#ifdef _WIN32
  char name[IF_NAMESIZE];
  for (unsigned index = 1; index < 256; ++index) {
    if (if_indextoname(index, name) != nullptr && std::string(name).starts_with("loopback_")) {
      return name;
    }
  }
  return "loopback-not-found";
#else
  return "lo";
#endif
}

uint32_t LoopbackIndex() { return ::if_nametoindex(LoopbackName().c_str()); }

// `text` with each zone "%lo" naming this platform's loopback interface.
std::string L(std::string text) {
  for (size_t at = text.find("%lo"); at != std::string::npos; at = text.find("%lo", at + 1)) {
    text.replace(at + 1, 2, LoopbackName());
  }
  return text;
}

Endpoint MustParse(const std::string& text) {
  auto e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.error().message();
  return e.ok() ? *e : Endpoint();
}

std::string ParseError(const std::string& text) {
  auto e = Endpoint::Parse(text);
  EXPECT_FALSE(e.ok()) << text << " parsed as " << e->ToString();
  if (e.ok()) return "";
  EXPECT_EQ(e.error().code(), EINVAL) << text;
  return e.error().message();
}

TEST(EndpointScopeTest, StaysASmallTriviallyCopyableValue) {
  static_assert(std::is_trivially_copyable_v<Endpoint>);
  EXPECT_LE(sizeof(Endpoint), 24u);
}

TEST(EndpointScopeTest, ZoneIsAnInterfaceName) {
  ASSERT_NE(LoopbackIndex(), 0u);
  Endpoint e = MustParse(L("[fe80::1%lo]:51820"));
  EXPECT_EQ(e.address(), IpAddress::Parse("fe80::1").value());
  EXPECT_EQ(e.port(), 51820);
  EXPECT_EQ(e.scope_id(), LoopbackIndex());
  EXPECT_EQ(e.Zone(), LoopbackName());
  EXPECT_EQ(e.ToString(), L("[fe80::1%lo]:51820"));
}

TEST(EndpointScopeTest, ZoneIsAnIndexAndPrintsAsTheInterfaceName) {
  const std::string index = std::to_string(LoopbackIndex());
  Endpoint e = MustParse("[fe80::1%" + index + "]:51820");
  EXPECT_EQ(e.scope_id(), LoopbackIndex());
  EXPECT_EQ(e.ToString(), L("[fe80::1%lo]:51820"));
  EXPECT_EQ(e, MustParse(L("[fe80::1%lo]:51820")));
}

TEST(EndpointScopeTest, IndexWithoutAnInterfacePrintsAsTheNumber) {
  Endpoint e = MustParse("[fe80::1%4000000000]:1");
  EXPECT_EQ(e.scope_id(), 4000000000u);
  EXPECT_EQ(e.ToString(), "[fe80::1%4000000000]:1");
  EXPECT_EQ(MustParse("[fe80::1%0004]:1").scope_id(), 4u);  // as strconv
}

TEST(EndpointScopeTest, ZoneOnANonLinkLocalAddressIsKeptAndPrintsAsTheIndex) {
  // As glibc's getnameinfo(): only link-local scopes print as names, so
  // wg(8)'s getaddrinfo() reads back whatever we print.
  const std::string index = std::to_string(LoopbackIndex());
  Endpoint global = MustParse(L("[2001:db8::1%lo]:1"));
  EXPECT_EQ(global.scope_id(), LoopbackIndex());
  EXPECT_EQ(global.ToString(), "[2001:db8::1%" + index + "]:1");
  EXPECT_EQ(MustParse(L("[ff02::1%lo]:1")).ToString(), L("[ff02::1%lo]:1"));
  EXPECT_EQ(MustParse(L("[ff05::1%lo]:1")).ToString(), "[ff05::1%" + index + "]:1");
  EXPECT_EQ(MustParse(L("[febf::1%lo]:1")).ToString(), L("[febf::1%lo]:1"));
  EXPECT_EQ(MustParse(L("[fec0::1%lo]:1")).ToString(), "[fec0::1%" + index + "]:1");
}

TEST(EndpointScopeTest, ZeroZoneMeansUnscoped) {
  EXPECT_EQ(MustParse("[fe80::1%0]:1"), MustParse("[fe80::1]:1"));
  EXPECT_EQ(MustParse("[fe80::1%0]:1").ToString(), "[fe80::1]:1");
}

TEST(EndpointScopeTest, PrintedFormParsesBackToTheSameEndpoint) {
  const std::string index = std::to_string(LoopbackIndex());
  for (const std::string& text : std::vector<std::string>{
           L("[fe80::1%lo]:51820"), "[fe80::abcd:1%" + index + "]:0",
        "[fe80::1%4294967295]:65535", "[2001:db8::1%" + index + "]:7",
        L("[::ffff:192.0.2.1%lo]:1"), L("[ff02::1%lo]:9"), "[fe80::1]:1",
        "192.0.2.1:1"}) {
    SCOPED_TRACE(text);
    Endpoint e = MustParse(text);
    EXPECT_EQ(MustParse(e.ToString()), e);
  }
}

TEST(EndpointScopeTest, ScopeTakesPartInEqualityAndOrder) {
  const IpAddress a = IpAddress::Parse("fe80::1").value();
  EXPECT_NE(Endpoint(a, 1, 2), Endpoint(a, 1, 3));
  EXPECT_NE(Endpoint(a, 1, 2), Endpoint(a, 1));
  EXPECT_EQ(Endpoint(a, 1, 2), Endpoint(a, 1, 2));
  EXPECT_LT(Endpoint(a, 1, 2), Endpoint(a, 1, 3));
  EXPECT_LT(Endpoint(a, 1, 9), Endpoint(a, 2, 0));  // port before scope
}

TEST(EndpointScopeTest, IPv4EndpointHasNoScope) {
  const IpAddress v4 = IpAddress::Parse("192.0.2.1").value();
  EXPECT_EQ(Endpoint(v4, 1, 7).scope_id(), 0u);
  EXPECT_EQ(Endpoint(v4, 1, 7), Endpoint(v4, 1));
  EXPECT_EQ(Endpoint(v4, 1, 7).ToString(), "192.0.2.1:1");
}

TEST(EndpointScopeTest, FormatWithUsesTheGivenAddressText) {
  EXPECT_EQ(MustParse(L("[fe80::1%lo]:5")).FormatWith("FE80::1"), L("[FE80::1%lo]:5"));
  EXPECT_EQ(MustParse("192.0.2.1:5").FormatWith("x"), "x:5");
}

TEST(EndpointScopeTest, UnknownInterfaceIsAClearError) {
  EXPECT_EQ(ParseError("[fe80::1%nosuchif0]:51820"),
            "unknown interface 'nosuchif0' in endpoint "
            "'[fe80::1%nosuchif0]:51820'");
  // Longer than any interface name can be, and not a number.
  EXPECT_NE(ParseError("[fe80::1%abcdefghijklmnopq]:1").find("unknown interface"),
            std::string::npos);
  EXPECT_NE(ParseError("[fe80::1%4294967296]:1").find("unknown interface"),
            std::string::npos);
  EXPECT_NE(ParseError("[fe80::1%-1]:1").find("unknown interface"), std::string::npos);
}

TEST(EndpointScopeTest, BadZonesAreRejected) {
  EXPECT_NE(ParseError("[fe80::1%]:1").find("empty zone"), std::string::npos);
  EXPECT_NE(ParseError("192.0.2.1%lo:1").find("IPv6 addresses only"), std::string::npos);
  EXPECT_NE(ParseError("[192.0.2.1%lo]:1").find("brackets are for IPv6"), std::string::npos);
  EXPECT_NE(ParseError("fe80::1%lo:1").find("[address]:port"), std::string::npos);
  EXPECT_NE(ParseError("[fe80::1%lo]:65536").find("invalid port"), std::string::npos);
  EXPECT_NE(ParseError("[fe80::1%lo%lo]:1").find("unknown interface 'lo%lo'"),
            std::string::npos);
  ParseError("[%lo]:1");
  ParseError("[fe80::1%lo]");
  ParseError("[fe80::1%lo:1");
}

TEST(EndpointScopeTest, ErrorsQuoteWhatTheyEcho) {
  const std::string message = ParseError(std::string("[fe80::1%l\no\0]:1", 15));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.find('\0'), std::string::npos) << message;
  EXPECT_NE(message.find("l\\x0ao\\x00"), std::string::npos) << message;
  // An overlong endpoint is echoed cut short.
  EXPECT_LT(ParseError(std::string(70000, 'x')).size(), 200u);
}

}  // namespace
}  // namespace zl
