// The device's verbose log lines: one for each engine event, one per change
// of a peer update, long prefix lists cut short, a budget for flood-driven
// lines, and never a preshared key.

#include "device/verbose_log.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/log.h"
#include "crypto/random.h"
#include "crypto/x25519.h"

namespace zl::device {
namespace {

// Collects the verbose log while alive (on this thread only).
class Lines {
 public:
  Lines() {
    SetLogLevel(LogLevel::kVerbose);
    SetLogSink([this](LogLevel, std::string_view m) { lines.emplace_back(m); });
  }
  ~Lines() {
    SetLogSink(nullptr);
    SetLogLevel(LogLevel::kError);
  }
  std::string All() const {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
  std::vector<std::string> lines;
};

crypto::PublicKey SomeKey(uint64_t seed) {
  crypto::DeterministicRng rng(seed);
  return *crypto::DerivePublicKey(crypto::GeneratePrivateKey(rng));
}

TEST(VerboseLogTest, ShortPeerNameIsFourAndFourCharactersOfTheBase64) {
  const crypto::PublicKey key = SomeKey(1);
  const std::string b64 = key.ToBase64();
  EXPECT_EQ(ShortPeerName(key), "peer(" + b64.substr(0, 4) + "…" + b64.substr(39, 4) + ")");
}

TEST(VerboseLogTest, EachEngineEventHasItsOwnLineNamingThePeer) {
  PeerNames names;
  const crypto::PublicKey key = SomeKey(2);
  names.Add(7, key);
  Lines log;
  for (int e = 0; e <= int(wg::EngineEvent::kKeysZeroed); ++e) {
    wg::EngineEventInfo info;
    info.event = wg::EngineEvent(e);
    info.attempt = 3;
    if (info.event == wg::EngineEvent::kCookieReplySent) {
      info.remote = Endpoint::Parse("192.0.2.9:4242").value();
    } else {
      info.peer = 7;
    }
    LogEngineEvent(names, info);
  }
  ASSERT_EQ(log.lines.size(), size_t(wg::EngineEvent::kKeysZeroed) + 1);
  EXPECT_EQ(std::set<std::string>(log.lines.begin(), log.lines.end()).size(), log.lines.size());
  for (const std::string& line : log.lines) {
    if (line.find("cookie reply to") != std::string::npos) {
      EXPECT_NE(line.find("192.0.2.9:4242"), std::string::npos) << line;
    } else {
      EXPECT_EQ(line.rfind(ShortPeerName(key) + ": ", 0), 0u) << line;
    }
  }
  const std::string all = log.All();
  EXPECT_NE(all.find("sending handshake initiation (attempt 3)"), std::string::npos) << all;
  EXPECT_NE(all.find("retrying (attempt 3)"), std::string::npos) << all;
  EXPECT_NE(all.find("after 3 attempts, giving up"), std::string::npos) << all;
}

TEST(VerboseLogTest, PeerUpdateTellsEachChangeButNotThePresharedKey) {
  crypto::DeterministicRng rng(3);
  wg::PeerUpdate update;
  update.public_key = SomeKey(4);
  update.preshared_key.emplace();
  rng.Fill(update.preshared_key->mutable_span());
  update.endpoint = Endpoint::Parse("[2001:db8::1]:51820").value();
  update.persistent_keepalive_interval = 15;
  for (uint32_t i = 0; i < 20; ++i) {
    update.allowed_ips.push_back(Cidr(IpAddress::V4(0x0a000000u + (i << 8)), 24));
  }
  Lines log;
  LogPeerUpdate("peer(x)", update, PeerChange{false, true}, Ok());
  const std::string all = log.All();
  EXPECT_EQ(log.lines,
            (std::vector<std::string>{
                "peer(x): created", "peer(x): preshared key set",
                "peer(x): endpoint set to [2001:db8::1]:51820",
                "peer(x): persistent keepalive every 15 s",
                "peer(x): added 20 allowed IPs: 10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24, "
                "10.0.3.0/24, 10.0.4.0/24, 10.0.5.0/24, 10.0.6.0/24, 10.0.7.0/24 (and 12 more)"}));
  EXPECT_EQ(all.find(HexEncode(update.preshared_key->span())), std::string::npos);
  EXPECT_EQ(all.find(Base64Encode(update.preshared_key->span())), std::string::npos);
}

TEST(VerboseLogTest, AllowedIpsOfAnExistingPeerAreReplacedOrRemoved) {
  wg::PeerUpdate update;
  update.public_key = SomeKey(6);
  update.replace_allowed_ips = true;
  Lines log;
  LogPeerUpdate("peer(x)", update, PeerChange{true, true}, Ok());
  update.allowed_ips = {Cidr::Parse("fd00::/64").value()};
  LogPeerUpdate("peer(x)", update, PeerChange{true, true}, Ok());
  EXPECT_EQ(log.lines, (std::vector<std::string>{"peer(x): all allowed IPs removed",
                                                 "peer(x): replaced by 1 allowed IP: fd00::/64"}));
}

TEST(VerboseLogTest, PeerUpdateThatCreatedNothingSaysWhyOrNothing) {
  wg::PeerUpdate update;
  update.public_key = SomeKey(5);
  update.endpoint = Endpoint::Parse("192.0.2.1:1").value();
  Lines log;
  LogPeerUpdate("peer(x)", update, PeerChange{false, false}, Ok());  // update_only
  EXPECT_TRUE(log.lines.empty());
  LogPeerUpdate("peer(x)", update, PeerChange{false, false},
                Error(EINVAL, "too many peers"));
  ASSERT_EQ(log.lines.size(), 1u);
  EXPECT_NE(log.lines[0].find("not created: too many peers"), std::string::npos);
  update.remove = true;
  LogPeerUpdate("peer(x)", update, PeerChange{true, false}, Ok());
  EXPECT_EQ(log.lines.back(), "peer(x): removed");
}

TEST(VerboseLogTest, BudgetAllowsTwentyLinesASecond) {
  LogBudget budget;
  const MonoTime t0{std::chrono::seconds(100)};
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += budget.Allow(t0 + std::chrono::milliseconds(i));
  EXPECT_EQ(allowed, LogBudget::kMaxPerSecond);
  EXPECT_TRUE(budget.Allow(t0 + std::chrono::seconds(1)));
}

}  // namespace
}  // namespace zl::device
