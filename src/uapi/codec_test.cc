#include "uapi/codec.h"

#include <gtest/gtest.h>
#include <net/if.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "uapi/fake_control_api.h"

namespace zl::uapi {
namespace {

using Status = RequestParser::Status;

const std::string kPeerA = std::string(62, '0') + "a1";
const std::string kPeerB = std::string(62, '0') + "b2";
const std::string kPsk = std::string(64, '5');

// ---------------------------------------------------------------------------
// Golden transcripts recorded from wireguard-go (tests/uapi-golden/record.sh).

struct Transaction {
  std::string request;
  bool eof = false;
  std::string response;
  bool closed = false;
};
using Connection = std::vector<Transaction>;

std::string Unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    char c = text[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 't') {
      out += '\t';
    } else if (c == 'x') {
      out += char(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (c == '*') {  // \*N*c: c repeated N times
      size_t star = text.find('*', i + 1);
      size_t n = std::stoul(std::string(text.substr(i + 1, star - i - 1)));
      out.append(n, text[star + 1]);
      i = star + 1;
    } else {
      out += c;
    }
  }
  return out;
}

// Appends the bytes of one transcript line ("> x", ">| x", ">") to `out`.
void AppendLine(std::string_view line, std::string& out) {
  bool raw = line.size() > 1 && line[1] == '|';
  std::string_view text = line.substr(raw ? 2 : 1);
  if (!text.empty() && text[0] == ' ') text.remove_prefix(1);
  out += Unescape(text);
  if (!raw) out += '\n';
}

std::vector<Connection> LoadGolden(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<Connection> conns;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line == "=== connection") {
      conns.emplace_back();
      continue;
    }
    Connection& conn = conns.back();
    if (line[0] == '>') {
      if (conn.empty() || !conn.back().response.empty() || conn.back().closed) {
        conn.emplace_back();
      }
      AppendLine(line, conn.back().request);
    } else if (line[0] == '<') {
      AppendLine(line, conn.back().response);
    } else if (line == "! eof") {
      conn.back().eof = true;
    } else if (line == "! closed") {
      conn.back().closed = true;
    } else {
      ADD_FAILURE() << path << ": bad line " << line;
    }
  }
  return conns;
}

// What our server would answer to `request` bytes (arriving in chunks of
// `chunk` bytes, 0 = all at once), and whether it would close the connection.
struct Answer {
  std::string response;
  bool closed = false;
};

Answer Replay(RequestParser& parser, FakeControlApi& api, const Transaction& t,
              size_t chunk) {
  Answer a;
  auto handle = [&]() {
    switch (parser.status()) {
      case Status::kComplete: {
        Request r = parser.TakeRequest();
        if (r.op == Request::kGet) {
          a.response += SerializeGet(api.Snapshot().value());
        } else {
          auto result = api.Apply(r.config);
          a.response += SerializeErrno(result.ok() ? 0 : result.error().code());
        }
        return true;
      }
      case Status::kFailed:
        a.response += SerializeErrno(parser.error().code());
        a.closed = true;
        return false;
      case Status::kBadOperation:
        a.closed = true;
        return false;
      case Status::kNeedMore:
        return true;
    }
    return false;
  };
  std::string_view rest = t.request;
  while (!rest.empty()) {
    size_t n = chunk == 0 ? rest.size() : std::min(chunk, rest.size());
    size_t used = parser.Feed(rest.substr(0, n));
    rest.remove_prefix(used);
    if (!handle()) return a;
    if (used == 0 && parser.status() == Status::kNeedMore) break;
  }
  if (t.eof) {
    parser.FeedEof();
    handle();
    a.closed = true;
  }
  return a;
}

// wireguard-go lists peers in Go map order (random), and binds a random
// listen port when none was configured. So peer blocks are sorted, and the
// listen_port line is dropped when our fake never had one set. Counters and
// handshake times need no normalising: the recorded interface stays down, so
// they are zero in both.
std::string Normalize(const std::string& response, bool drop_listen_port) {
  std::vector<std::string> head, tail;
  std::vector<std::string> peers;
  std::istringstream in(response);
  std::string line;
  bool in_tail = false;
  while (std::getline(in, line)) {
    if (line.rfind("errno=", 0) == 0) in_tail = true;
    if (in_tail) {
      tail.push_back(line);
    } else if (line.rfind("public_key=", 0) == 0) {
      peers.push_back(line + "\n");
    } else if (!peers.empty()) {
      peers.back() += line + "\n";
    } else if (!(drop_listen_port && line.rfind("listen_port=", 0) == 0)) {
      head.push_back(line);
    }
  }
  std::sort(peers.begin(), peers.end());
  std::string out;
  for (const auto& l : head) out += l + "\n";
  for (const auto& p : peers) out += p;
  for (const auto& l : tail) out += l + "\n";
  return out;
}

// Where zlayer answers differently on purpose (see codec.h and the
// "deviations" scenario): {connection index, our answer, wireguard-go's}.
struct Deviation {
  size_t connection;
  std::string ours;
  std::string wireguard_go_prefix;
};
const std::map<std::string, std::vector<Deviation>> kDeviations = {
    {"deviations",
     {
         {2, "errno=-71\n\n", "errno=0\n"},  // EOF before the blank line
         {3, "errno=-71\n\n", "errno=0\n"},  // same, last line unterminated
         // Neither cut-off set applied (no fwmark), and the zone of the
         // endpoint set by connection 0 is printed (wireguard-go v0.0.20220316
         // prints "endpoint=[fe80::1]:1"; newer ones print the zone).
         {4,
          "public_key=0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
          "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b02\npreshared_key=" +
              std::string(64, '0') +
              "\nprotocol_version=1\nendpoint=[fe80::1%lo]:1\n"
              "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
              "tx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\n"
              "errno=0\n\n",
          "listen_port="},
     }},
};

void CheckGolden(const std::filesystem::path& path, size_t chunk) {
  SCOPED_TRACE(path.filename().string() + " chunk=" + std::to_string(chunk));
  std::string name = path.stem().string();
  auto conns = LoadGolden(path);
  ASSERT_FALSE(conns.empty());
  FakeControlApi api;
  for (size_t c = 0; c < conns.size(); ++c) {
    SCOPED_TRACE("connection " + std::to_string(c));
    RequestParser parser;
    bool closed = false;
    for (size_t i = 0; i < conns[c].size(); ++i) {
      const Transaction& t = conns[c][i];
      SCOPED_TRACE("transaction " + std::to_string(i) + ": " +
                   t.request.substr(0, 80));
      ASSERT_FALSE(closed)
          << "we closed the connection before wireguard-go did";
      Answer ours = Replay(parser, api, t, chunk);
      closed = ours.closed;

      const Deviation* deviation = nullptr;
      if (auto it = kDeviations.find(name); it != kDeviations.end()) {
        for (const auto& d : it->second) {
          if (d.connection == c) deviation = &d;
        }
      }
      if (deviation != nullptr) {
        EXPECT_EQ(ours.response, deviation->ours);
        EXPECT_EQ(t.response.rfind(deviation->wireguard_go_prefix, 0), 0u)
            << "wireguard-go's answer changed: " << t.response;
        continue;
      }
      bool drop_port = api.Snapshot()->listen_port == 0;
      EXPECT_EQ(Normalize(ours.response, drop_port),
                Normalize(t.response, drop_port));
      // We close after every error answer; wireguard-go abandons the
      // connection's framing there too, but closes only when the leftover
      // bytes fail to parse as an operation. Where it closed, so must we.
      if (t.closed) {
        EXPECT_TRUE(ours.closed);
      }
      if (ours.closed && !t.closed && !t.eof) {
        EXPECT_EQ(ours.response.rfind("errno=-", 0), 0u)
            << "closed without an error answer";
      }
    }
  }
}

std::vector<std::filesystem::path> GoldenFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(
           std::string(ZL_SOURCE_DIR) + "/tests/uapi-golden")) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(UapiGoldenTest, AllScenariosAreThere) {
  auto files = GoldenFiles();
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.stem().string());
  for (const char* want :
       {"set_get", "address_forms", "replace_peers", "remove", "update_only",
        "replace_allowed_ips", "clear", "syntax", "errors", "deviations"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

TEST(UapiGoldenTest, OurAnswersMatchWireguardGo) {
  for (const auto& f : GoldenFiles()) CheckGolden(f, 0);
}

TEST(UapiGoldenTest, OurAnswersMatchWireguardGoFedByteByByte) {
  for (const auto& f : GoldenFiles()) CheckGolden(f, 1);
}

// ---------------------------------------------------------------------------
// The parser.

Request MustParse(std::string_view text) {
  auto r = ParseRequest(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(r).value() : Request{};
}

int ErrnoOf(std::string_view text) {
  auto r = ParseRequest(text);
  return r.ok() ? 0 : r.error().code();
}

TEST(UapiCodecTest, ParsesGet) {
  EXPECT_EQ(MustParse("get=1\n\n").op, Request::kGet);
}

TEST(UapiCodecTest, ParsesEveryKeyOfSet) {
  Request r = MustParse("set=1\nprivate_key=" + std::string(64, '0') +
                        "\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n"
                        "public_key=" +
                        kPeerA +
                        "\nremove=true\nupdate_only=true\n"
                        "preshared_key=" +
                        kPsk +
                        "\nendpoint=[2001:db8::1]:7\n"
                        "persistent_keepalive_interval=25\nprotocol_version=1\n"
                        "allowed_ip=10.0.0.1/24\nallowed_ip=fd00::/8\n"
                        "public_key=" +
                        kPeerB + "\n\n");
  ASSERT_EQ(r.op, Request::kSet);
  const auto& c = r.config;
  ASSERT_TRUE(c.private_key.has_value());
  EXPECT_TRUE(c.private_key->IsZero());  // zero clears and is not clamped
  EXPECT_EQ(c.listen_port, 51820);
  EXPECT_EQ(c.fwmark, 0u);
  EXPECT_TRUE(c.replace_peers);
  ASSERT_EQ(c.peers.size(), 2u);
  const auto& a = c.peers[0];
  EXPECT_EQ(a.public_key.ToHex(), kPeerA);
  EXPECT_TRUE(a.remove);
  EXPECT_TRUE(a.update_only);
  ASSERT_TRUE(a.preshared_key.has_value());
  EXPECT_EQ(HexEncode(a.preshared_key->span()), kPsk);
  EXPECT_EQ(a.endpoint, Endpoint::Parse("[2001:db8::1]:7").value());
  EXPECT_EQ(a.persistent_keepalive_interval, 25);
  ASSERT_EQ(a.allowed_ips.size(), 2u);
  EXPECT_EQ(a.allowed_ips[0].ToString(),
            "10.0.0.1/24");  // as given; the device masks
  EXPECT_EQ(c.peers[1].public_key.ToHex(), kPeerB);
  EXPECT_FALSE(c.peers[1].remove);
  EXPECT_FALSE(c.peers[1].endpoint.has_value());
}

TEST(UapiCodecTest, ClampsPrivateKeyAsWireguardGo) {
  Request r =
      MustParse("set=1\nprivate_key=ff" + std::string(60, '1') + "ff\n\n");
  EXPECT_EQ(HexEncode(r.config.private_key->span()),
            "f8" + std::string(60, '1') + "7f");
}

TEST(UapiCodecTest, AcceptsUpperCaseHexAndCrLf) {
  std::string upper = kPeerA;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  Request r = MustParse("set=1\npublic_key=" + upper + "\r\n\r\n");
  EXPECT_EQ(r.config.peers.at(0).public_key.ToHex(), kPeerA);
}

TEST(UapiCodecTest, ReplaceAllowedIpsDropsThoseAddedBeforeItInTheBlock) {
  Request r = MustParse("set=1\npublic_key=" + kPeerA +
                        "\nallowed_ip=10.0.0.0/8\nreplace_allowed_ips=true\n"
                        "allowed_ip=10.1.0.0/16\n\n");
  const auto& p = r.config.peers.at(0);
  EXPECT_TRUE(p.replace_allowed_ips);
  ASSERT_EQ(p.allowed_ips.size(), 1u);
  EXPECT_EQ(p.allowed_ips[0].ToString(), "10.1.0.0/16");
}

TEST(UapiCodecTest, ErrnoOfEachBadInput) {
  const std::string peer = "set=1\npublic_key=" + kPeerA + "\n";
  struct Case {
    std::string request;
    int errno_value;
  } cases[] = {
      {"set=1\nbogus=1\n\n", EINVAL},
      {"set=1\nnoequals\n\n", EPROTO},
      {"set=1\nlisten_port=65536\n\n", EINVAL},
      {"set=1\nlisten_port=+1\n\n", EINVAL},
      {"set=1\nfwmark=4294967296\n\n", EINVAL},
      {"set=1\nprivate_key=abc\n\n", EINVAL},
      {"set=1\nreplace_peers=false\n\n", EINVAL},
      {"set=1\nremove=true\n\n", EINVAL},  // a peer key before any public_key
      {"set=1\npublic_key=" + kPeerA.substr(1) + "\n\n", EINVAL},
      {peer + "listen_port=1\n\n", EINVAL},  // interface key after a peer
      {peer + "protocol_version=2\n\n", EINVAL},
      {peer + "update_only=True\n\n", EINVAL},
      {peer + "endpoint=192.0.2.1\n\n", EINVAL},
      {peer + "endpoint=2001:db8::1:1\n\n", EINVAL},
      {peer + "endpoint=host.example:1\n\n", EINVAL},
      {peer + "endpoint=[fe80::1%nosuchif0]:1\n\n", EINVAL},
      {peer + "endpoint=[fe80::1%]:1\n\n", EINVAL},
      {peer + "endpoint=192.0.2.1%lo:1\n\n", EINVAL},
      {peer + "allowed_ip=10.0.0.1\n\n", EINVAL},
      {peer + "allowed_ip=10.0.0.0/33\n\n", EINVAL},
      {peer + "allowed_ip=-10.0.0.0/8\n\n", EINVAL},
      {peer + "persistent_keepalive_interval=65536\n\n", EINVAL},
      {peer + "preshared_key=" + kPsk + "0\n\n", EINVAL},
      {peer + std::string("allowed_ip=10.0.0.0/8\0\n\n", 24), EINVAL},
      {std::string("set=1\n\xff\xfe\x00=\x80\n\n", 12), EINVAL},
      {"get=1\nX", EINVAL},
      {"set=1\nfwmark=1\n", EPROTO},  // EOF before the blank line
      {"get=1\n", EPROTO},            // EOF before get's blank line
      {"get=2\n\n", EPROTO},          // not an operation
      {"", EPROTO},
      {"get=1\n\nget=1\n\n", EPROTO},  // two transactions
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ErrnoOf(c.request), c.errno_value) << c.request;
  }
}

TEST(UapiCodecTest, AcceptsGoIntegerQuirks) {
  Request r = MustParse("set=1\nlisten_port=000080\npublic_key=" + kPeerA +
                        "\nallowed_ip=10.0.0.0/+8\nallowed_ip=fd00::/08\n"
                        "allowed_ip=0.0.0.0/-0\n\n");
  EXPECT_EQ(r.config.listen_port, 80);
  const auto& ips = r.config.peers.at(0).allowed_ips;
  ASSERT_EQ(ips.size(), 3u);
  EXPECT_EQ(ips[0].prefix_len(), 8);
  EXPECT_EQ(ips[1].prefix_len(), 8);
  EXPECT_EQ(ips[2].prefix_len(), 0);
}

TEST(UapiCodecTest, ErrorMessagesDoNotEchoKeyMaterial) {
  std::string secret = std::string(62, '7') + "zz";
  for (const std::string key : {"private_key", "preshared_key"}) {
    std::string req = key == "private_key"
                          ? "set=1\nprivate_key=" + secret + "\n\n"
                          : "set=1\npublic_key=" + kPeerA +
                                "\npreshared_key=" + secret + "\n\n";
    auto r = ParseRequest(req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message().find("7777"), std::string::npos)
        << r.error().message();
  }
}

TEST(UapiCodecTest, LineLimitIsWireguardGos) {
  std::string prefix = "set=1\nlisten_port=";
  std::string longest(kMaxLineBytes - std::string("listen_port=").size(), '0');
  longest.back() = '1';
  EXPECT_EQ(MustParse(prefix + longest + "\n\n").config.listen_port, 1);
  EXPECT_EQ(ErrnoOf(prefix + "0" + longest + "\n\n"), EIO);
}

TEST(UapiCodecTest, TransactionLimitIsEmsgsize) {
  RequestParser parser(100);
  std::string req = "set=1\n";
  for (int i = 0; i < 12; ++i) req += "fwmark=1\n";
  req += "\n";
  parser.Feed(req);
  ASSERT_EQ(parser.status(), Status::kFailed);
  EXPECT_EQ(parser.error().code(), EMSGSIZE);
}

TEST(UapiCodecTest, GarbageFirstLineStopsAfterSixBytes) {
  RequestParser parser;
  std::string garbage(1 << 20, 'A');
  EXPECT_EQ(parser.Feed(garbage), 6u);
  EXPECT_EQ(parser.status(), Status::kBadOperation);
  EXPECT_EQ(parser.Feed(garbage), 0u);  // sticky
}

TEST(UapiCodecTest, StopsAtTheEndOfEachTransaction) {
  RequestParser parser;
  std::string two = "get=1\n\nset=1\nfwmark=9\n\n";
  size_t used = parser.Feed(two);
  EXPECT_EQ(used, 7u);
  ASSERT_EQ(parser.status(), Status::kComplete);
  EXPECT_EQ(parser.Feed(std::string_view(two).substr(used)),
            0u);  // until taken
  EXPECT_EQ(parser.TakeRequest().op, Request::kGet);
  EXPECT_EQ(parser.Feed(std::string_view(two).substr(used)), two.size() - used);
  ASSERT_EQ(parser.status(), Status::kComplete);
  EXPECT_EQ(parser.TakeRequest().config.fwmark, 9u);
  EXPECT_FALSE(parser.InTransaction());
  parser.FeedEof();  // a clean end between transactions
  EXPECT_EQ(parser.status(), Status::kNeedMore);
}

TEST(UapiCodecTest, EofInsideTransactions) {
  struct Case {
    std::string bytes;
    Status status;
  } cases[] = {
      {"ge", Status::kBadOperation},
      {"get=1\n", Status::kBadOperation},
      {"set=1\n", Status::kFailed},
      {"set=1\nfwmark=1", Status::kFailed},
  };
  for (const auto& c : cases) {
    RequestParser parser;
    parser.Feed(c.bytes);
    EXPECT_TRUE(parser.InTransaction());
    parser.FeedEof();
    EXPECT_EQ(parser.status(), c.status) << c.bytes;
  }
}

TEST(UapiCodecTest, AnySplitGivesTheSameResult) {
  const std::string requests[] = {
      "set=1\nprivate_key=" + kPsk + "\npublic_key=" + kPeerA +
          "\nallowed_ip=10.0.0.0/8\n\n",
      "set=1\nbogus\n\n",
      "set=1\npublic_key=" + kPeerA + "\nendpoint=nope\n\n",
      "get=1\nX",
      "hello world\n",
  };
  for (const auto& req : requests) {
    RequestParser whole;
    whole.Feed(req);
    for (size_t split = 1; split < req.size(); ++split) {
      RequestParser parts;
      size_t used = parts.Feed(std::string_view(req).substr(0, split));
      if (used == split) parts.Feed(std::string_view(req).substr(split));
      ASSERT_EQ(parts.status(), whole.status()) << req << " split at " << split;
      if (whole.status() == Status::kFailed) {
        EXPECT_EQ(parts.error().code(), whole.error().code());
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Serializing.

TEST(UapiCodecTest, SerializeGetInWireguardGoOrder) {
  device::DeviceState s;
  s.private_key = crypto::PrivateKey();
  s.private_key->data()[0] = 0x40;
  s.listen_port = 51820;
  s.fwmark = 7;
  device::PeerState p;
  p.public_key.data()[31] = 1;
  p.endpoint = Endpoint::Parse("192.0.2.1:1").value();
  p.persistent_keepalive_interval = 25;
  p.allowed_ips = {Cidr::Parse("10.0.0.9/24").value(),
                   Cidr::Parse("::1:0:0/96").value()};
  p.last_handshake =
      WallTime(std::chrono::nanoseconds(1'700'000'000'123'456'789LL));
  p.rx_bytes = 5;
  p.tx_bytes = 6;
  s.peers.push_back(p);
  s.peers.emplace_back();  // a bare peer
  std::string zeros(64, '0');
  EXPECT_EQ(SerializeGet(s),
            "private_key=40" + zeros.substr(2) +
                "\nlisten_port=51820\nfwmark=7\n"
                "public_key=" +
                zeros.substr(2) + "01\npreshared_key=" + zeros +
                "\nprotocol_version=1\nendpoint=192.0.2.1:1\n"
                "last_handshake_time_sec=1700000000\nlast_handshake_time_nsec="
                "123456789\n"
                "tx_bytes=6\nrx_bytes=5\npersistent_keepalive_interval=25\n"
                "allowed_ip=10.0.0.0/24\nallowed_ip=::1:0:0/96\n"
                "public_key=" +
                zeros + "\npreshared_key=" + zeros +
                "\nprotocol_version=1\nlast_handshake_time_sec=0\n"
                "last_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
                "persistent_keepalive_interval=0\nerrno=0\n\n");
}

TEST(UapiCodecTest, SerializeGetOfAnEmptyDevice) {
  device::DeviceState s;
  s.private_key = crypto::PrivateKey();  // zero: not printed
  EXPECT_EQ(SerializeGet(s), "errno=0\n\n");
}

TEST(UapiCodecTest, SerializeErrnoNegates) {
  EXPECT_EQ(SerializeErrno(0), "errno=0\n\n");
  EXPECT_EQ(SerializeErrno(EINVAL), "errno=-22\n\n");
  EXPECT_EQ(SerializeErrno(EADDRINUSE), "errno=-98\n\n");
  EXPECT_EQ(SerializeErrno(-EIO), "errno=-5\n\n");
}

// wireguard-go's ipc.IpcError* values are Linux's numbers on every OS.
TEST(UapiCodecTest, WireErrnoIsLinuxsNumber) {
  EXPECT_EQ(WireErrno(EPROTO), 71);
  EXPECT_EQ(WireErrno(EIO), 5);
  EXPECT_EQ(WireErrno(EINVAL), 22);
  EXPECT_EQ(WireErrno(EADDRINUSE), 98);
  EXPECT_EQ(WireErrno(EMSGSIZE), 90);
  EXPECT_EQ(WireErrno(4242), 4242);
  EXPECT_EQ(SerializeErrno(EPROTO), "errno=-71\n\n");
}

TEST(UapiCodecTest, FormatAddressAsGoNetip) {
  const std::pair<const char*, const char*> cases[] = {
      {"192.0.2.1", "192.0.2.1"},
      {"::", "::"},
      {"::1", "::1"},
      {"1::", "1::"},
      {"::1:0", "::1:0"},          // glibc writes ::0.1.0.0
      {"::102:304", "::102:304"},  // glibc writes ::1.2.3.4
      {"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},  // the first longest run
      {"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
      {"2001:0:1:2:3:4:5:6", "2001:0:1:2:3:4:5:6"},  // one zero word stays
      {"FE80::ABCD", "fe80::abcd"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(FormatAddress(IpAddress::Parse(in).value()), want) << in;
  }
  EXPECT_EQ(FormatEndpoint(Endpoint::Parse("[::ffff:1.2.3.4]:9").value()),
            "[::ffff:1.2.3.4]:9");
  EXPECT_EQ(FormatAllowedIp(Cidr::Parse("fd00::1:2/112").value()),
            "fd00::1:0/112");
}

// wg(8) sends a link-local endpoint as getnameinfo() printed it:
// "[fe80::1%eth0]:51820" (or the index when the interface has no name).
TEST(UapiCodecTest, SetAcceptsAScopedEndpoint) {
  const uint32_t lo = ::if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  Request r = MustParse("set=1\npublic_key=" + kPeerA +
                        "\nendpoint=[fe80::1%lo]:51820\npublic_key=" + kPeerB +
                        "\nendpoint=[fe80::2%" + std::to_string(lo) +
                        "]:1\n\n");
  const IpAddress fe80_1 = IpAddress::Parse("fe80::1").value();
  EXPECT_EQ(r.config.peers.at(0).endpoint, Endpoint(fe80_1, 51820, lo));
  EXPECT_EQ(r.config.peers.at(1).endpoint->scope_id(), lo);
}

TEST(UapiCodecTest, BadZoneIsRejectedWithTheReason) {
  auto r = ParseRequest("set=1\npublic_key=" + kPeerA +
                        "\nendpoint=[fe80::1%nosuchif0]:51820\n\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_EQ(r.error().message(),
            "failed to set endpoint: unknown interface 'nosuchif0' in "
            "endpoint '[fe80::1%nosuchif0]:51820'");
  auto v4 = ParseRequest("set=1\npublic_key=" + kPeerA +
                         "\nendpoint=192.0.2.1%lo:1\n\n");
  ASSERT_FALSE(v4.ok());
  EXPECT_NE(v4.error().message().find("IPv6 addresses only"), std::string::npos);
}

TEST(UapiCodecTest, GetPrintsTheZoneAsNetipDoes) {
  const uint32_t lo = ::if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  device::DeviceState s;
  device::PeerState p;
  p.endpoint = Endpoint(IpAddress::Parse("FE80::1:0:0:1").value(), 51820, lo);
  s.peers.push_back(p);
  p.endpoint = Endpoint(IpAddress::Parse("fe80::2").value(), 7, 4000000000u);
  s.peers.push_back(p);
  const std::string get = SerializeGet(s);
  EXPECT_NE(get.find("\nendpoint=[fe80::1:0:0:1%lo]:51820\n"), std::string::npos)
      << get;
  EXPECT_NE(get.find("\nendpoint=[fe80::2%4000000000]:7\n"), std::string::npos)
      << get;
  // Not link-local: the scope prints as its index (base/ip.h).
  EXPECT_EQ(FormatEndpoint(Endpoint::Parse("[::ffff:1.2.3.4%lo]:9").value()),
            "[::ffff:1.2.3.4%" + std::to_string(lo) + "]:9");
}

TEST(UapiCodecTest, SerializeSetRoundTrips) {
  std::string text = "set=1\nprivate_key=10" + std::string(60, '1') +
                     "41\nlisten_port=1\nfwmark=2\n"
                     "replace_peers=true\npublic_key=" +
                     kPeerA +
                     "\nremove=true\nupdate_only=true\npreshared_key=" + kPsk +
                     "\nendpoint=[::1]:3\npersistent_keepalive_interval=0\n"
                     "replace_allowed_ips=true\nallowed_ip=10.0.0.1/8\n"
                     "public_key=" +
                     kPeerB + "\nendpoint=[fe80::1%lo]:4\n\n";
  Request r = MustParse(text);
  EXPECT_EQ(SerializeSet(r.config), text);
  EXPECT_EQ(SerializeSet(MustParse(SerializeSet(r.config)).config), text);
}

}  // namespace
}  // namespace zl::uapi
