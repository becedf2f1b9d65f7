#pragma once
// mac1, mac2 and cookie replies (whitepaper §5.4.4, §5.4.7).
//
// CookieChecker is the receiving side, one per device (keyed by our public
// key): it checks mac1 on every handshake message, and under load checks mac2
// against the cookie it would give the sender's address, and builds cookie
// replies. Its secret rotates every kCookieSecretLifetime (120 s).
// CookieGenerator is the sending side, one per peer (keyed by the peer's
// public key): it adds mac1 to our handshake messages, and mac2 while it holds
// a fresh cookie (< 115 s old, kCookieUseLifetime) from that peer's cookie
// reply.
//
// Thread safety: single-threaded, owned by the engine.

#include <chrono>
#include <optional>

#include "base/clock.h"
#include "base/ip.h"
#include "crypto/aead.h"
#include "crypto/blake2s.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "wg/messages.h"

namespace zl::wg {

inline constexpr auto kCookieSecretLifetime =
    std::chrono::seconds(120);  // whitepaper §6.1
// How long the sender uses a received cookie: the secret's lifetime less
// REKEY_TIMEOUT (5 s), so a cookie about to expire at the responder is not
// spent on a message that would arrive too late (the kernel's cookie.c).
inline constexpr auto kCookieUseLifetime =
    kCookieSecretLifetime - std::chrono::seconds(5);

class CookieChecker {
 public:
  enum class Verdict {
    kInvalidMac1,  // drop
    kValidMac1,  // mac1 good; mac2 absent or wrong (a cookie reply is due under
                 // load)
    kValidMac2,  // mac1 and mac2 good: the sender proved it owns its address
  };

  // (Re)keys the checker for our public key (call whenever it changes).
  void SetLocalPublicKey(const crypto::PublicKey& local);
  // `message` is a whole initiation or response (mac1/mac2 at the end).
  Verdict Check(ByteSpan message, const Endpoint& source, MonoTime now);
  // Builds a cookie reply to `message` (whose mac1 must be valid) for
  // `source`, rotating the secret first if it is older than 120 s.
  void CreateCookieReply(ByteSpan message, uint32_t receiver_index,
                         const Endpoint& source, MonoTime now, crypto::Rng& rng,
                         CookieReply& out);

 private:
  crypto::SymmetricKey mac1_key_;
  crypto::SymmetricKey cookie_key_;
  crypto::SymmetricKey secret_;
  std::optional<MonoTime> secret_born_;
  crypto::XChaChaPoly aead_;
};

class CookieGenerator {
 public:
  void SetRemotePublicKey(const crypto::PublicKey& remote);
  // Fills mac1 (and mac2 while a cookie is fresh) at the end of `message`, a
  // whole serialized initiation or response, and remembers mac1 for a cookie
  // reply.
  void AddMacs(MutableByteSpan message, MonoTime now);
  // Decrypts and stores the cookie. False if it does not answer our last mac1.
  bool ConsumeCookieReply(const CookieReply& reply, MonoTime now);

 private:
  crypto::SymmetricKey mac1_key_;
  crypto::SymmetricKey cookie_key_;
  crypto::Mac cookie_{};
  std::optional<MonoTime> cookie_born_;
  crypto::Mac last_mac1_{};
  bool have_last_mac1_ = false;
  crypto::XChaChaPoly aead_;
};

}  // namespace zl::wg
