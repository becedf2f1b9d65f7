// Fuzzes the consuming side of the handshake with fixed keys. Each input is
// used twice: as raw bytes, and XOR-ed onto a valid message of each kind
// (made once at start-up), so that mutations of authentic messages, which
// random bytes would never reach, are explored too. The targets are
// CookieChecker::Check, ConsumeInitiation, ConsumeResponse (against a real
// pending initiation) and CookieGenerator::ConsumeCookieReply.

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "crypto/x25519.h"
#include "wg/cookie.h"
#include "wg/messages.h"
#include "wg/noise.h"

namespace {

using namespace zl;
using namespace zl::wg;

void Require(bool condition) {
  if (!condition) std::abort();
}

struct Fixture {
  LocalStatic initiator;
  LocalStatic responder;
  PeerStatic responder_as_seen_by_initiator;
  PeerStatic initiator_as_seen_by_responder;
  InitiatorState pending;
  CookieChecker checker;
  CookieGenerator generator;
  Endpoint source{IpAddress::V4(0xc0000201), 51820};
  MonoTime now{std::chrono::seconds(1000)};
  // Valid wire messages: an initiation with mac1 and mac2, the response to
  // it, and a cookie reply to the initiation's mac1.
  std::vector<uint8_t> initiation, response, cookie_reply;

  Fixture() {
    crypto::DeterministicRng rng(1);
    initiator.private_key = crypto::GeneratePrivateKey(rng);
    initiator.public_key = *crypto::DerivePublicKey(initiator.private_key);
    responder.private_key = crypto::GeneratePrivateKey(rng);
    responder.public_key = *crypto::DerivePublicKey(responder.private_key);
    crypto::PresharedKey psk;
    rng.Fill(psk.mutable_span());
    responder_as_seen_by_initiator = {
        responder.public_key, psk,
        *crypto::X25519(initiator.private_key, responder.public_key)};
    initiator_as_seen_by_responder = {
        initiator.public_key, psk,
        *crypto::X25519(responder.private_key, initiator.public_key)};
    checker.SetLocalPublicKey(responder.public_key);
    generator.SetRemotePublicKey(responder.public_key);

    Initiation init;
    Require(CreateInitiation(
                initiator, responder_as_seen_by_initiator, 7,
                crypto::MakeTai64n(WallTime(std::chrono::seconds(1767225600))),
                rng, init, pending)
                .ok());
    initiation.resize(kInitiationSize);
    SerializeInitiation(init, initiation.data());
    // Get a cookie, so the initiation carries a valid mac2.
    generator.AddMacs(MutableByteSpan(initiation), now);
    CookieReply first;
    checker.CreateCookieReply(ByteSpan(initiation), 7, source, now, rng, first);
    Require(generator.ConsumeCookieReply(first, now));
    generator.AddMacs(MutableByteSpan(initiation), now);
    Require(checker.Check(ByteSpan(initiation), source, now) ==
            CookieChecker::Verdict::kValidMac2);

    Result<ConsumedInitiation> consumed =
        ConsumeInitiation(init, responder, Finder());
    Require(consumed.ok());
    Response resp;
    SessionKeys keys;
    Require(CreateResponse(*consumed, initiator_as_seen_by_responder, 9, rng,
                           resp, keys)
                .ok());
    response.resize(kResponseSize);
    SerializeResponse(resp, response.data());

    CookieReply reply;
    checker.CreateCookieReply(ByteSpan(initiation), 7, source, now, rng, reply);
    cookie_reply.resize(kCookieReplySize);
    SerializeCookieReply(reply, cookie_reply.data());
  }

  std::function<const PeerStatic*(const crypto::PublicKey&)> Finder() {
    return [this](const crypto::PublicKey& k) -> const PeerStatic* {
      return k == initiator.public_key ? &initiator_as_seen_by_responder
                                       : nullptr;
    };
  }

  void Consume(ByteSpan in) {
    (void)checker.Check(in, source, now);  // any length must be safe

    Initiation init;
    if (ParseInitiation(in, init)) {
      Result<ConsumedInitiation> consumed =
          ConsumeInitiation(init, responder, Finder());
      if (consumed.ok()) {
        // Whatever authenticates must be answerable.
        crypto::DeterministicRng rng(in.size());
        Response resp;
        SessionKeys keys;
        Require(CreateResponse(*consumed, initiator_as_seen_by_responder, 9,
                               rng, resp, keys)
                    .ok());
      }
    }

    Response resp;
    if (ParseResponse(in, resp)) {
      SessionKeys keys;
      (void)ConsumeResponse(resp, initiator, responder_as_seen_by_initiator,
                            pending, keys);
    }

    CookieReply reply;
    if (ParseCookieReply(in, reply)) {
      // Re-arm the generator with the initiation's mac1 (consuming a reply
      // disarms it).
      std::vector<uint8_t> copy = initiation;
      generator.AddMacs(MutableByteSpan(copy), now);
      (void)generator.ConsumeCookieReply(reply, now);
    }
  }
};

std::vector<uint8_t> XorOnto(const std::vector<uint8_t>& base,
                             const uint8_t* data, size_t size) {
  std::vector<uint8_t> out = base;
  for (size_t i = 0; i < size && i < out.size(); ++i) out[i] ^= data[i];
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  f.Consume(ByteSpan(data, size));
  for (const auto* base : {&f.initiation, &f.response, &f.cookie_reply}) {
    const std::vector<uint8_t> mutated = XorOnto(*base, data, size);
    f.Consume(ByteSpan(mutated));
  }
  return 0;
}
