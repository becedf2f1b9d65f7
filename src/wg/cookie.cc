#include "wg/cookie.h"

#include <algorithm>
#include <string_view>

namespace zl::wg {
namespace {

// Whitepaper §5.4.4: the labels of the two keys derived from a public key.
constexpr std::string_view kLabelMac1 = "mac1----";
constexpr std::string_view kLabelCookie = "cookie--";

crypto::SymmetricKey DeriveKey(std::string_view label,
                               const crypto::PublicKey& key) {
  const crypto::Hash h = crypto::Blake2s(
      {ByteSpan(reinterpret_cast<const uint8_t*>(label.data()), label.size()),
       key.span()});
  return crypto::SymmetricKey(ByteSpan(h));
}

// mac1 covers everything before it, mac2 everything before mac2; both sit at
// the end of the message. REQUIRES: message.size() >= 2 * kMacLen.
size_t Mac1Offset(ByteSpan message) {
  return message.size() - 2 * crypto::kMacLen;
}
size_t Mac2Offset(ByteSpan message) { return message.size() - crypto::kMacLen; }

bool IsFresh(const std::optional<MonoTime>& born, MonoTime now,
             Duration lifetime) {
  return born.has_value() && now >= *born && now - *born < lifetime;
}

// Cookie = MAC(Rm, source IP bytes || source port, big-endian).
crypto::Mac MakeCookie(const crypto::SymmetricKey& secret,
                       const Endpoint& source) {
  uint8_t port[2];
  StoreBe16(port, source.port());
  return crypto::Blake2sMac(secret.span(),
                            {source.address().span(), ByteSpan(port)});
}

}  // namespace

void CookieChecker::SetLocalPublicKey(const crypto::PublicKey& local) {
  mac1_key_ = DeriveKey(kLabelMac1, local);
  cookie_key_ = DeriveKey(kLabelCookie, local);
}

CookieChecker::Verdict CookieChecker::Check(ByteSpan message,
                                            const Endpoint& source,
                                            MonoTime now) {
  if (message.size() < 2 * crypto::kMacLen) return Verdict::kInvalidMac1;
  const size_t mac1_at = Mac1Offset(message);
  const crypto::Mac mac1 =
      crypto::Blake2sMac(mac1_key_.span(), {message.first(mac1_at)});
  if (!crypto::ConstantTimeEqual(ByteSpan(mac1),
                                 message.subspan(mac1_at, crypto::kMacLen))) {
    return Verdict::kInvalidMac1;
  }
  // A cookie is only as good as the secret it was made with; without a fresh
  // secret no mac2 can be valid (Check has no Rng to make one). A sender
  // without a cookie leaves mac2 zero: no need to compute what it would be
  // (under a flood, that is two MACs a message saved).
  const size_t mac2_at = Mac2Offset(message);
  if (!IsFresh(secret_born_, now, kCookieSecretLifetime) ||
      IsAllZero(message.subspan(mac2_at, crypto::kMacLen))) {
    return Verdict::kValidMac1;
  }
  const crypto::Mac cookie = MakeCookie(secret_, source);
  const crypto::Mac mac2 =
      crypto::Blake2sMac(ByteSpan(cookie), {message.first(mac2_at)});
  if (!crypto::ConstantTimeEqual(ByteSpan(mac2),
                                 message.subspan(mac2_at, crypto::kMacLen))) {
    return Verdict::kValidMac1;
  }
  return Verdict::kValidMac2;
}

void CookieChecker::CreateCookieReply(ByteSpan message, uint32_t receiver_index,
                                      const Endpoint& source, MonoTime now,
                                      crypto::Rng& rng, CookieReply& out) {
  out = CookieReply{};
  out.receiver_index = receiver_index;
  if (message.size() < 2 * crypto::kMacLen) return;
  if (!IsFresh(secret_born_, now, kCookieSecretLifetime)) {
    rng.Fill(secret_.mutable_span());
    secret_born_ = now;
  }
  crypto::Mac cookie = MakeCookie(secret_, source);
  rng.Fill(MutableByteSpan(out.nonce));
  // The AD binds the reply to the message it answers (its mac1).
  aead_.Seal(cookie_key_, out.nonce.data(),
             message.subspan(Mac1Offset(message), crypto::kMacLen),
             ByteSpan(cookie), MutableByteSpan(out.encrypted_cookie));
  crypto::SecureWipe(cookie.data(), cookie.size());
}

void CookieGenerator::SetRemotePublicKey(const crypto::PublicKey& remote) {
  mac1_key_ = DeriveKey(kLabelMac1, remote);
  cookie_key_ = DeriveKey(kLabelCookie, remote);
  // A cookie from another key's holder is of no use.
  crypto::SecureWipe(cookie_.data(), cookie_.size());
  cookie_born_.reset();
  have_last_mac1_ = false;
}

void CookieGenerator::AddMacs(MutableByteSpan message, MonoTime now) {
  if (message.size() < 2 * crypto::kMacLen) return;
  const size_t mac1_at = Mac1Offset(message);
  last_mac1_ =
      crypto::Blake2sMac(mac1_key_.span(), {ByteSpan(message.first(mac1_at))});
  have_last_mac1_ = true;
  std::copy(last_mac1_.begin(), last_mac1_.end(), message.begin() + mac1_at);

  const size_t mac2_at = Mac2Offset(message);
  crypto::Mac mac2{};
  if (IsFresh(cookie_born_, now, kCookieUseLifetime)) {
    mac2 = crypto::Blake2sMac(ByteSpan(cookie_),
                              {ByteSpan(message.first(mac2_at))});
  }
  std::copy(mac2.begin(), mac2.end(), message.begin() + mac2_at);
}

bool CookieGenerator::ConsumeCookieReply(const CookieReply& reply,
                                         MonoTime now) {
  if (!have_last_mac1_) return false;
  crypto::Mac cookie{};
  if (!aead_.Open(cookie_key_, reply.nonce.data(), ByteSpan(last_mac1_),
                  ByteSpan(reply.encrypted_cookie), MutableByteSpan(cookie))) {
    crypto::SecureWipe(cookie.data(), cookie.size());
    return false;
  }
  cookie_ = cookie;
  crypto::SecureWipe(cookie.data(), cookie.size());
  cookie_born_ = now;
  // One reply per mac1 sent (as the kernel): a replayed reply is refused.
  have_last_mac1_ = false;
  return true;
}

}  // namespace zl::wg
