#include "overlay/prober.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "net/udp_bind.h"

namespace zl::overlay {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Every wait in these tests is bounded by this.
constexpr milliseconds kTestTimeout{3000};
// The probe timeout of tests where a target must not answer.
constexpr milliseconds kShortTimeout{200};

IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }
const IpAddress kLoopback4 = Ip("127.0.0.1");
const IpAddress kLoopback6 = Ip("::1");

net::ListenAddresses Only(const IpAddress& address) {
  net::ListenAddresses listen;
  (address.is_v4() ? listen.v4 : listen.v6) = address;
  return listen;
}

// Waits (bounded) until `condition` holds; the responder's counters move on
// its own thread.
bool WaitFor(const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + kTestTimeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// A plain UDP socket playing a peer that the test drives by hand.
class FakePeer {
 public:
  explicit FakePeer(const IpAddress& address) {
    auto bind = net::LinuxBind::Open(0, Only(address));
    EXPECT_TRUE(bind.ok()) << bind.error().message();
    if (bind.ok()) bind_ = std::move(*bind);
    family_ = address.family();
    endpoint_ = Endpoint(address, bind_ ? bind_->port() : 0);
  }

  const Endpoint& endpoint() const { return endpoint_; }

  bool Send(const Endpoint& to, ByteSpan data) {
    const net::SendItem item{to, data, std::nullopt};
    auto n = bind_->Send(std::span(&item, 1));
    return n.ok() && *n == 1;
  }

  struct Datagram {
    std::vector<uint8_t> bytes;
    Endpoint from;
  };
  // The next datagram, waiting at most `timeout`.
  std::optional<Datagram> Receive(milliseconds timeout = kTestTimeout) {
    pollfd pfd{bind_->fd(family_), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) {
      return std::nullopt;
    }
    std::array<uint8_t, 2048> buf;
    std::array<net::RecvSlot, 1> slot;
    slot[0].buf = buf;
    auto n = bind_->Receive(family_, slot);
    if (!n.ok() || *n != 1) return std::nullopt;
    return Datagram{std::vector<uint8_t>(buf.begin(), buf.begin() + slot[0].len),
                    slot[0].from};
  }

 private:
  std::unique_ptr<net::LinuxBind> bind_;
  IpAddress::Family family_ = IpAddress::Family::kV4;
  Endpoint endpoint_;
};

// A probe by the wire format of prober.h, built by hand: the known answer.
std::vector<uint8_t> Probe(uint8_t flag, uint64_t nonce, uint64_t send_time) {
  std::vector<uint8_t> bytes = {'z', 'l', 'p', '1', flag, 0, 0, 0};
  bytes.resize(24);
  StoreLe64(&bytes[8], nonce);
  StoreLe64(&bytes[16], send_time);
  return bytes;
}

std::unique_ptr<ProbeResponder> StartResponder(const IpAddress& address) {
  auto responder = ProbeResponder::Start(Endpoint(address, 0));
  EXPECT_TRUE(responder.ok()) << responder.error().message();
  return responder.ok() ? std::move(*responder) : nullptr;
}

bool HaveIpv6Loopback() {
  return net::LinuxBind::Open(0, Only(kLoopback6)).ok();
}

std::vector<ProbeResult> MustProbe(const std::vector<Endpoint>& targets,
                                   milliseconds timeout,
                                   std::optional<IpAddress> source = {}) {
  auto results = ProbeAll(targets, source, timeout);
  EXPECT_TRUE(results.ok()) << results.error().message();
  return results.ok() ? *results : std::vector<ProbeResult>{};
}

class ProberFamilyTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    address_ = Ip(GetParam());
    if (address_.is_v6() && !HaveIpv6Loopback()) {
      GTEST_SKIP() << "no IPv6 loopback";
    }
  }
  IpAddress address_;
};

TEST_P(ProberFamilyTest, ResponderAnswersAndRttIsMeasured) {
  auto responder = StartResponder(address_);
  ASSERT_NE(responder, nullptr);
  EXPECT_NE(responder->port(), 0);
  const Endpoint target(address_, responder->port());

  const auto start = Clock::now();
  auto results = MustProbe({target}, kTestTimeout);
  const auto elapsed = Clock::now() - start;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].target, target);
  EXPECT_TRUE(results[0].ok);
  ASSERT_TRUE(results[0].rtt.has_value());
  EXPECT_GT(results[0].rtt->count(), 0);
  EXPECT_LE(*results[0].rtt, elapsed);
  EXPECT_LT(elapsed, kTestTimeout) << "ProbeAll waited for the timeout";
  EXPECT_TRUE(WaitFor([&] { return responder->answered() == 1; }));
  EXPECT_EQ(responder->malformed(), 0u);
}

TEST_P(ProberFamilyTest, TargetWithoutResponderTimesOut) {
  FakePeer silent(address_);  // bound, never answers
  const auto start = Clock::now();
  auto results = MustProbe({silent.endpoint()}, kShortTimeout);
  const auto elapsed = Clock::now() - start;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok);
  EXPECT_FALSE(results[0].rtt.has_value());
  EXPECT_GE(elapsed, kShortTimeout - milliseconds(5));
  EXPECT_LT(elapsed, kTestTimeout);
}

TEST_P(ProberFamilyTest, RequestOnTheWireFollowsTheFormat) {
  FakePeer peer(address_);
  auto probing = std::async(std::launch::async, [&] {
    return MustProbe({peer.endpoint()}, kShortTimeout);
  });
  auto request = peer.Receive();
  ASSERT_TRUE(request.has_value());
  ASSERT_EQ(request->bytes.size(), 24u);
  EXPECT_EQ(std::string(request->bytes.begin(), request->bytes.begin() + 4),
            "zlp1");
  EXPECT_EQ(request->bytes[4], 0);  // request
  EXPECT_EQ(request->bytes[5] | request->bytes[6] | request->bytes[7], 0);
  EXPECT_EQ(request->from.address(), address_);
  EXPECT_FALSE(probing.get()[0].ok);
}

INSTANTIATE_TEST_SUITE_P(Loopback, ProberFamilyTest,
                         ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) {
                           return std::string(info.param) == "::1" ? "Ipv6"
                                                                   : "Ipv4";
                         });

TEST(ProbeResponderTest, MalformedDatagramsAreCountedAndNotAnswered) {
  auto responder = StartResponder(kLoopback4);
  ASSERT_NE(responder, nullptr);
  const Endpoint at(kLoopback4, responder->port());
  FakePeer peer(kLoopback4);

  std::vector<std::vector<uint8_t>> malformed;
  malformed.push_back({});                                  // empty
  malformed.push_back({'z', 'l', 'p', '1'});                // short
  malformed.push_back(Probe(0, 1, 2));
  malformed.back().push_back(0);                            // long (25)
  malformed.push_back(std::vector<uint8_t>(1500, 0xab));    // longer than a buffer
  malformed.push_back(Probe(0, 3, 4));
  malformed.back()[3] = '2';                                // magic "zlp2"
  malformed.push_back(Probe(1, 5, 6));                      // a reply
  malformed.push_back(Probe(2, 7, 8));                      // unknown flag
  malformed.push_back(Probe(0, 9, 10));
  malformed.back()[6] = 1;                                  // reserved not zero
  for (const auto& datagram : malformed) ASSERT_TRUE(peer.Send(at, datagram));
  // A good request last: its reply must be the first thing that comes back.
  const auto good = Probe(0, 0x1122334455667788u, 42);
  ASSERT_TRUE(peer.Send(at, good));

  auto reply = peer.Receive();
  ASSERT_TRUE(reply.has_value());
  auto expected = good;
  expected[4] = 1;
  EXPECT_EQ(reply->bytes, expected);
  EXPECT_EQ(reply->from, at);
  EXPECT_TRUE(WaitFor([&] { return responder->answered() == 1; }));
  EXPECT_EQ(responder->malformed(), malformed.size());
  EXPECT_FALSE(peer.Receive(milliseconds(50)).has_value());
}

TEST(ProbeResponderTest, OnTheAnyAddressRepliesFromTheProbedAddress) {
  auto responder = ProbeResponder::Start(Endpoint(Ip("0.0.0.0"), 0));
  ASSERT_TRUE(responder.ok()) << responder.error().message();
  // 127.0.0.2 is local too (all of 127/8 is), but not the default source.
  const Endpoint target(Ip("127.0.0.2"), (*responder)->port());
  auto results = MustProbe({target}, kTestTimeout);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok);
}

TEST(ProbeResponderTest, StartFailsOnAnAddressThatIsNotLocal) {
  auto responder = ProbeResponder::Start(Endpoint(Ip("192.0.2.1"), 0));
  ASSERT_FALSE(responder.ok());
  EXPECT_NE(responder.error().message().find("192.0.2.1"), std::string::npos)
      << responder.error().message();
}

TEST(ProbeResponderTest, StopIsIdempotentAndSilencesTheResponder) {
  auto responder = StartResponder(kLoopback4);
  ASSERT_NE(responder, nullptr);
  const Endpoint target(kLoopback4, responder->port());
  responder->Stop();
  responder->Stop();
  auto results = MustProbe({target}, kShortTimeout);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(responder->answered(), 0u);
}

TEST(ProbeAllTest, NoTargetsIsAnEmptyResult) {
  auto results = ProbeAll({}, std::nullopt, kShortTimeout);
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE(results->empty());
}

TEST(ProbeAllTest, ResultsFollowTargetOrderWithSilentTargetsMixedIn) {
  auto responder = StartResponder(kLoopback4);
  ASSERT_NE(responder, nullptr);
  FakePeer silent(kLoopback4);
  const Endpoint live(kLoopback4, responder->port());
  auto results = MustProbe({silent.endpoint(), live, silent.endpoint()},
                           kShortTimeout);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].target, silent.endpoint());
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(results[1].target, live);
  EXPECT_TRUE(results[1].ok);
  EXPECT_FALSE(results[2].ok);
}

TEST(ProbeAllTest, ManyTargetsOfBothFamiliesAtOnce) {
  std::vector<IpAddress> addresses(16, kLoopback4);
  if (HaveIpv6Loopback()) addresses.resize(32, kLoopback6);
  std::vector<std::unique_ptr<ProbeResponder>> responders;
  std::vector<Endpoint> targets;
  for (const IpAddress& address : addresses) {
    responders.push_back(StartResponder(address));
    ASSERT_NE(responders.back(), nullptr);
    targets.emplace_back(address, responders.back()->port());
  }
  const auto start = Clock::now();
  auto results = MustProbe(targets, kTestTimeout);
  EXPECT_LT(Clock::now() - start, kTestTimeout);
  ASSERT_EQ(results.size(), targets.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].target, targets[i]);
    EXPECT_TRUE(results[i].ok) << targets[i].ToString();
  }
  for (const auto& responder : responders) {
    EXPECT_TRUE(WaitFor([&] { return responder->answered() == 1; }));
  }
}

TEST(ProbeAllTest, BindsTheGivenSourceAddress) {
  FakePeer peer(kLoopback4);
  auto probing = std::async(std::launch::async, [&] {
    return MustProbe({peer.endpoint()}, kShortTimeout, Ip("127.0.0.3"));
  });
  auto request = peer.Receive();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->from.address(), Ip("127.0.0.3"));
  probing.get();
}

TEST(ProbeAllTest, FailsClearlyWhenTheSourceIsNotLocal) {
  auto results = ProbeAll({Endpoint(kLoopback4, 9)}, Ip("192.0.2.1"),
                          kShortTimeout);
  ASSERT_FALSE(results.ok());
  EXPECT_NE(results.error().message().find("192.0.2.1"), std::string::npos)
      << results.error().message();
}

// The fake peer answers the probe with `replies(request)`, each sent from the
// socket given with it; returns the result ProbeAll reports.
struct Answer {
  FakePeer* from;
  std::vector<uint8_t> bytes;
};
ProbeResult ProbeAndAnswer(
    FakePeer& target,
    const std::function<std::vector<Answer>(const std::vector<uint8_t>&)>&
        replies,
    milliseconds timeout) {
  auto probing = std::async(std::launch::async, [&] {
    return MustProbe({target.endpoint()}, timeout);
  });
  auto request = target.Receive();
  EXPECT_TRUE(request.has_value());
  if (request) {
    for (const Answer& answer : replies(request->bytes)) {
      EXPECT_TRUE(answer.from->Send(request->from, answer.bytes));
    }
  }
  auto results = probing.get();
  return results.empty() ? ProbeResult{} : results[0];
}

std::vector<uint8_t> AsReply(std::vector<uint8_t> request) {
  request[4] = 1;
  return request;
}

TEST(ProbeAllTest, StrayForgedAndMismatchedRepliesAreIgnored) {
  FakePeer target(kLoopback4);
  FakePeer forger(kLoopback4);
  auto result = ProbeAndAnswer(
      target,
      [&](const std::vector<uint8_t>& request) {
        auto wrong_nonce = AsReply(request);
        wrong_nonce[8] ^= 1;
        auto wrong_time = AsReply(request);
        wrong_time[20] ^= 1;
        auto reserved = AsReply(request);
        reserved[7] = 1;
        auto truncated = AsReply(request);
        truncated.pop_back();
        return std::vector<Answer>{
            {&target, wrong_nonce},       // stray: a nonce never sent
            {&target, wrong_time},        // mismatched echo
            {&target, reserved},          // malformed
            {&target, truncated},         // malformed
            {&target, request},           // the request echoed, not a reply
            {&forger, AsReply(request)},  // right bytes, wrong sender
        };
      },
      kShortTimeout);
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.rtt.has_value());
}

TEST(ProbeAllTest, GenuineReplyAfterStrayOnesCounts) {
  FakePeer target(kLoopback4);
  FakePeer forger(kLoopback4);
  const auto start = Clock::now();
  auto result = ProbeAndAnswer(
      target,
      [&](const std::vector<uint8_t>& request) {
        auto wrong_nonce = AsReply(request);
        wrong_nonce[15] ^= 0x80;
        return std::vector<Answer>{
            {&target, wrong_nonce},
            {&forger, AsReply(request)},
            {&target, AsReply(request)},
            {&target, AsReply(request)},  // a duplicate changes nothing
        };
      },
      kTestTimeout);
  EXPECT_TRUE(result.ok);
  EXPECT_TRUE(result.rtt.has_value());
  EXPECT_LT(Clock::now() - start, kTestTimeout);
}

}  // namespace
}  // namespace zl::overlay
