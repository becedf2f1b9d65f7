#include "overlay/dns_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cstdio>
#include <string>

#include "base/bytes.h"
#include "net/sockaddr.h"
#include "net/test_util.h"
#include "overlay/dns_test_util.h"

namespace zl::overlay {
namespace {

using ::testing::HasSubstr;
using testing::MakeQuery;
using testing::ParseMessage;
using testing::PktPtr;
using testing::SectionText;
using testing::TestService;
using testing::TestZoneData;
using net::testing::kTestTimeout;
using net::testing::WaitReadable;

const IpAddress kLoopback = IpAddress::Parse("127.0.0.1").value();

std::string AsString(const std::vector<uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::vector<uint8_t> Framed(const std::vector<uint8_t>& message) {
  uint8_t prefix[2];
  StoreBe16(prefix, uint16_t(message.size()));
  std::vector<uint8_t> out(prefix, prefix + 2);
  out.resize(2 + message.size());
  std::copy(message.begin(), message.end(), out.begin() + 2);
  return out;
}

// A blocking TCP connection to the server with every wait bounded.
class TcpClient {
 public:
  static TcpClient Connect(uint16_t port) {
    return Adopt(UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), port);
  }
  // Connects `fd` (a TCP socket the caller may have set options on).
  static TcpClient Adopt(UniqueFd fd, uint16_t port) {
    TcpClient c;
    c.fd_ = std::move(fd);
    sockaddr_storage storage;
    const socklen_t len = net::ToSockaddr(Endpoint(kLoopback, port), &storage);
    c.connected_ =
        ::connect(c.fd_.get(), reinterpret_cast<const sockaddr*>(&storage), len) == 0;
    return c;
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_.get(); }

  bool Send(const std::vector<uint8_t>& bytes) {
    return ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           ssize_t(bytes.size());
  }
  // Reads exactly `n` bytes; false on EOF, error or timeout.
  bool ReadExactly(size_t n, std::vector<uint8_t>* out) {
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      if (!WaitReadable(fd_.get())) return false;
      const ssize_t r = ::recv(fd_.get(), out->data() + got, n - got, 0);
      if (r <= 0) return false;
      got += size_t(r);
    }
    return true;
  }
  // One length-prefixed message, parsed; nullptr on failure.
  PktPtr ReadMessage() {
    std::vector<uint8_t> prefix, body;
    if (!ReadExactly(2, &prefix) || !ReadExactly(LoadBe16(prefix.data()), &body)) {
      return nullptr;
    }
    return ParseMessage(body);
  }
  // True when the server closes the connection within the test timeout.
  bool ClosedByServer() {
    if (!WaitReadable(fd_.get())) return false;
    char byte;
    return ::recv(fd_.get(), &byte, 1, 0) <= 0;
  }

 private:
  UniqueFd fd_;
  bool connected_ = false;
};

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    zone_.Replace(TestZoneData());
    StartServer({});
  }
  void StartServer(DnsServerOptions options) {
    server_.reset();
    auto server = DnsServer::Start(Endpoint(kLoopback, 0), zone_, options);
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(*server);
    ASSERT_NE(server_->port(), 0);
  }
  Endpoint server_endpoint() const { return Endpoint(kLoopback, server_->port()); }

  // Asks over UDP; nullptr when no (parsable) answer came.
  PktPtr AskUdp(const std::vector<uint8_t>& query) {
    auto sock = net::testing::OpenUdp(Endpoint(kLoopback, 0));
    if (!sock.ok()) return nullptr;
    if (!net::testing::SendTo(sock->get(), server_endpoint(), AsString(query))) return nullptr;
    auto reply = net::testing::ReceiveFrom(sock->get());
    if (!reply) return nullptr;
    return ParseMessage(std::vector<uint8_t>(reply->payload.begin(), reply->payload.end()));
  }

  DnsZone zone_;
  std::unique_ptr<DnsServer> server_;
};

TEST_F(DnsServerTest, AnswersOverUdp) {
  PktPtr pkt = AskUdp(MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A, {.id = 77}));
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_id(pkt.get()), 77);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER),
              ::testing::ElementsAre("node-a.zlayer.internal. 30 IN A 10.200.2.1"));
}

TEST_F(DnsServerTest, AnswersOverTcp) {
  TcpClient client = TcpClient::Connect(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Framed(MakeQuery("node-b.zlayer.internal.", LDNS_RR_TYPE_AAAA))));
  PktPtr pkt = client.ReadMessage();
  ASSERT_NE(pkt, nullptr);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER),
              ::testing::ElementsAre("node-b.zlayer.internal. 30 IN AAAA fd42:0:0:3::1"));
}

TEST_F(DnsServerTest, SeveralQueriesOnOneConnectionAreAnsweredInOrder) {
  TcpClient client = TcpClient::Connect(server_->port());
  ASSERT_TRUE(client.connected());
  std::vector<uint8_t> batch;
  for (uint16_t id = 1; id <= 5; ++id) {
    auto framed = Framed(MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A, {.id = id}));
    batch.insert(batch.end(), framed.begin(), framed.end());
  }
  ASSERT_TRUE(client.Send(batch));  // all five in one write
  for (uint16_t id = 1; id <= 5; ++id) {
    PktPtr pkt = client.ReadMessage();
    ASSERT_NE(pkt, nullptr) << id;
    EXPECT_EQ(ldns_pkt_id(pkt.get()), id);
  }
  // And more later on the same connection.
  ASSERT_TRUE(client.Send(Framed(MakeQuery("ctl.zlayer.internal.", LDNS_RR_TYPE_A, {.id = 6}))));
  PktPtr pkt = client.ReadMessage();
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_id(pkt.get()), 6);
}

TEST_F(DnsServerTest, MessageSentInPiecesIsAnsweredOnlyWhenComplete) {
  TcpClient client = TcpClient::Connect(server_->port());
  ASSERT_TRUE(client.connected());
  const std::vector<uint8_t> framed =
      Framed(MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A, {.id = 9}));
  // The length's first byte alone, then half the message: no answer yet.
  ASSERT_TRUE(client.Send({framed[0]}));
  EXPECT_FALSE(WaitReadable(client.fd(), std::chrono::milliseconds(50)));
  const size_t half = framed.size() / 2;
  ASSERT_TRUE(client.Send(std::vector<uint8_t>(framed.begin() + 1, framed.begin() + long(half))));
  EXPECT_FALSE(WaitReadable(client.fd(), std::chrono::milliseconds(50)));
  ASSERT_TRUE(client.Send(std::vector<uint8_t>(framed.begin() + long(half), framed.end())));
  PktPtr pkt = client.ReadMessage();
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(ldns_pkt_id(pkt.get()), 9);
}

// A client that sends 2000 queries for ~8 KB answers (16 MB) and reads
// nothing: the server answers until its bounded output queue is full, its
// socket writes meet a full socket (16 MB is more than the kernel buffers
// hold: tcp_wmem's maximum is 4 MB by default), and it stops answering. Once
// the client reads, every answer arrives whole and in order.
TEST_F(DnsServerTest, ClientThatDoesNotReadStallsOnlyItselfThenGetsEverything) {
  DnsZoneData d = TestZoneData();
  const std::string long_label(55, 'x');
  for (int i = 0; i < 100; ++i) {
    d.names.push_back(
        TestService("_big._tcp.svc", "b" + std::to_string(i) + "-" + long_label, 9000));
  }
  zone_.Replace(d);
  const uint64_t answered_before = zone_.counters().answered;
  UniqueFd raw(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int rcvbuf = 256 * 1024;  // fixed, so the kernel does not grow it
  ASSERT_EQ(::setsockopt(raw.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
  TcpClient client = TcpClient::Adopt(std::move(raw), server_->port());
  ASSERT_TRUE(client.connected());
  constexpr uint16_t kQueries = 2000;
  std::vector<uint8_t> batch;
  for (uint16_t id = 0; id < kQueries; ++id) {
    auto framed = Framed(MakeQuery("_big._tcp.svc.zlayer.internal.", LDNS_RR_TYPE_SRV, {.id = id}));
    batch.insert(batch.end(), framed.begin(), framed.end());
  }
  ASSERT_TRUE(client.Send(batch));

  // Wait (bounded) until the server stops answering.
  uint64_t answered = 0;
  auto stable_since = std::chrono::steady_clock::now();
  const auto deadline = stable_since + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const uint64_t now_answered = zone_.counters().answered - answered_before;
    if (now_answered != answered) {
      answered = now_answered;
      stable_since = std::chrono::steady_clock::now();
    } else if (answered > 0 &&
               std::chrono::steady_clock::now() - stable_since > std::chrono::milliseconds(300)) {
      break;
    }
    ::poll(nullptr, 0, 5);
  }
  EXPECT_GT(answered, 0u);
  EXPECT_LT(answered, kQueries);
  // Another client is served meanwhile.
  PktPtr other = AskUdp(MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A));
  EXPECT_NE(other, nullptr);

  for (uint16_t id = 0; id < kQueries; ++id) {
    PktPtr pkt = client.ReadMessage();
    ASSERT_NE(pkt, nullptr) << id;
    ASSERT_EQ(ldns_pkt_id(pkt.get()), id);
    ASSERT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())), 100u);
  }
}

TEST_F(DnsServerTest, GarbageDoesNotStopTheServer) {
  auto sock = net::testing::OpenUdp(Endpoint(kLoopback, 0));
  ASSERT_TRUE(sock.ok());
  for (const std::string& junk : {std::string("x"), std::string(12, '\0'), std::string(600, '\xff'),
                                  std::string("\x12\x34\x01\x00\x00\x01garbage", 14)}) {
    ASSERT_TRUE(net::testing::SendTo(sock->get(), server_endpoint(), junk));
  }
  {
    TcpClient client = TcpClient::Connect(server_->port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.Send({0, 3, 'a', 'b', 'c', 0, 0}));  // a short frame, then an empty one
    ASSERT_TRUE(client.Send({0xff, 0xff, 1, 2, 3}));         // a frame that never completes
  }  // and the client goes away mid-frame
  {
    TcpClient client = TcpClient::Connect(server_->port());
    ASSERT_TRUE(client.connected());
    std::vector<uint8_t> formerr = {0, 12, 0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    ASSERT_TRUE(client.Send(formerr));
    PktPtr pkt = client.ReadMessage();
    ASSERT_NE(pkt, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_FORMERR);
  }
  PktPtr udp = AskUdp(MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A));
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(udp.get()), LDNS_RCODE_NOERROR);
  TcpClient client = TcpClient::Connect(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Framed(MakeQuery("node-a.zlayer.internal.", LDNS_RR_TYPE_A))));
  ASSERT_NE(client.ReadMessage(), nullptr);
  EXPECT_GE(zone_.counters().malformed, 6u);
}

TEST_F(DnsServerTest, ClientsBeyondTheLimitAreClosed) {
  StartServer({.max_tcp_clients = 2});
  TcpClient a = TcpClient::Connect(server_->port());
  TcpClient b = TcpClient::Connect(server_->port());
  ASSERT_TRUE(a.connected() && b.connected());
  // a and b are served (so both are accepted before c arrives).
  for (TcpClient* c : {&a, &b}) {
    ASSERT_TRUE(c->Send(Framed(MakeQuery("ctl.zlayer.internal.", LDNS_RR_TYPE_A))));
    ASSERT_NE(c->ReadMessage(), nullptr);
  }
  TcpClient extra = TcpClient::Connect(server_->port());
  ASSERT_TRUE(extra.connected());  // the kernel accepts; the server closes it
  EXPECT_TRUE(extra.ClosedByServer());
  ASSERT_TRUE(a.Send(Framed(MakeQuery("ctl.zlayer.internal.", LDNS_RR_TYPE_A))));
  EXPECT_NE(a.ReadMessage(), nullptr);
}

TEST_F(DnsServerTest, IdleConnectionsAreClosed) {
  StartServer({.tcp_idle_timeout = std::chrono::milliseconds(100)});
  TcpClient client = TcpClient::Connect(server_->port());
  ASSERT_TRUE(client.connected());
  EXPECT_TRUE(client.ClosedByServer());  // within kTestTimeout (3 s)
}

TEST_F(DnsServerTest, StopJoinsAndClosesTheSockets) {
  const uint16_t port = server_->port();
  server_->Stop();
  server_->Stop();  // idempotent
  TcpClient client = TcpClient::Connect(port);
  EXPECT_FALSE(client.connected());
  // The port is free again for both protocols.
  auto again = DnsServer::Start(Endpoint(kLoopback, port), zone_);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ((*again)->port(), port);
}

TEST(DnsServerIpv6Test, AnswersOnIpv6Loopback) {
  DnsZone zone;
  zone.Replace(TestZoneData());
  const IpAddress loopback6 = IpAddress::Parse("::1").value();
  auto server = DnsServer::Start(Endpoint(loopback6, 0), zone);
  if (!server.ok() && server.error().code() == EADDRNOTAVAIL) {
    GTEST_SKIP() << "no IPv6 loopback here: " << server.error().message();
  }
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto sock = net::testing::OpenUdp(Endpoint(loopback6, 0));
  ASSERT_TRUE(sock.ok());
  ASSERT_TRUE(net::testing::SendTo(sock->get(), Endpoint(loopback6, (*server)->port()),
                                   AsString(MakeQuery("ctl.zlayer.internal.", LDNS_RR_TYPE_AAAA))));
  auto reply = net::testing::ReceiveFrom(sock->get());
  ASSERT_TRUE(reply.has_value());
  PktPtr pkt = ParseMessage(std::vector<uint8_t>(reply->payload.begin(), reply->payload.end()));
  ASSERT_NE(pkt, nullptr);
  EXPECT_THAT(SectionText(pkt.get(), LDNS_SECTION_ANSWER),
              ::testing::ElementsAre("ctl.zlayer.internal. 30 IN AAAA fd42:0:0:1::1"));
}

TEST_F(DnsServerTest, TakenPortIsAClearError) {
  auto second = DnsServer::Start(server_endpoint(), zone_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EADDRINUSE);
  EXPECT_THAT(second.error().message(), HasSubstr("dns server"));
}

// kdig (knot-dnsutils), the test client the issue names.
std::string RunKdig(const std::string& args) {
  std::string command = "kdig " + args + " +time=2 +retry=0 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return output;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  ::pclose(pipe);
  return output;
}

TEST_F(DnsServerTest, KdigGetsAnswersOverUdpAndTcpAndNxdomain) {
  if (std::system("command -v kdig >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "kdig not installed (Debian package knot-dnsutils)";
  }
  const std::string at = "@127.0.0.1 -p " + std::to_string(server_->port()) + " ";
  std::string udp = RunKdig(at + "node-a.zlayer.internal A");
  EXPECT_THAT(udp, HasSubstr("status: NOERROR"));
  EXPECT_THAT(udp, HasSubstr("Flags: qr aa rd"));
  EXPECT_THAT(udp, ::testing::ContainsRegex("node-a\\.zlayer\\.internal\\.\\s+30\\s+IN\\s+A\\s+"
                                            "10\\.200\\.2\\.1"));
  EXPECT_THAT(udp, HasSubstr("UDP"));

  std::string tcp = RunKdig(at + "+tcp _http._tcp.web.zlayer.internal SRV");
  EXPECT_THAT(tcp, HasSubstr("status: NOERROR"));
  EXPECT_THAT(tcp, ::testing::ContainsRegex("SRV\\s+0 0 8080 node-b\\.zlayer\\.internal\\."));
  EXPECT_THAT(tcp, HasSubstr("TCP"));

  std::string nx = RunKdig(at + "nobody.zlayer.internal A");
  EXPECT_THAT(nx, HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(nx, HasSubstr("SOA"));

  std::string refused = RunKdig(at + "example.com A");
  EXPECT_THAT(refused, HasSubstr("status: REFUSED"));
}

}  // namespace
}  // namespace zl::overlay
