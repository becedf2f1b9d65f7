#include "overlay/token.h"

#include <algorithm>
#include <limits>

#include "base/bytes.h"
#include "crypto/blake2s.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "overlay/ipam.h"

namespace zl::overlay {
namespace {

// The binary body, version 1. Integers little-endian, like WireGuard's wire
// format; every length is checked when read.
//
//   u8      version = 1
//   u8[8]   id (the 16 hex digits as bytes)
//   str     node_name                (str: u8 length, then the bytes)
//   u8[32]  control_public_key
//   u8      n = number of control endpoints, 1..8
//   n x     addr, u16 port           (addr: u8 family 4 | 6, then 4 | 16 bytes)
//   addr    control_address
//   cidr    params.cidr4             (cidr: addr, u8 prefix length)
//   ocidr   params.cidr6             (ocidr: u8 0 for none, or a cidr)
//   u8      params.node_prefix4
//   u8      params.node_prefix6
//   str     params.dns_zone
//   u16     params.api_port, params.dns_port, params.probe_port
//   cidr    subnet4
//   ocidr   subnet6
//   u8[32]  onetime_private_key
//   u64     expires_at (unix seconds, at most INT64_MAX)
//
// The text is kTokenPrefix + base64url(body || checksum), where checksum is
// the first 4 bytes of BLAKE2s-256(body). A new field means a new version.
constexpr uint8_t kVersion = 1;
constexpr size_t kChecksumLen = 4;
constexpr size_t kIdLen = 8;
constexpr size_t kMaxEndpoints = 8;
constexpr size_t kMaxString = 255;  // u8 length
// The largest body (all strings and endpoints at their maximum) is below
// this, so the buffer never reallocates and leaves no copy of the key behind.
constexpr size_t kMaxBody = 1 + kIdLen + (1 + kMaxString) + 32 + 1 +
                            kMaxEndpoints * 19 + 17 + 2 * 18 + 2 +
                            (1 + kMaxString) + 6 + 2 * 18 + 32 + 8;
// Text longer than any token's is refused before decoding.
constexpr size_t kMaxBase64 = (kMaxBody + kChecksumLen) * 4 / 3 + 4;

// Wipes a buffer that held a private key when it goes out of scope.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  ~WipeOnExit() { crypto::SecureWipe(bytes_.data(), bytes_.size()); }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::vector<uint8_t>& bytes_;
};

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {
    out_.reserve(kMaxBody + kChecksumLen);
  }
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) {
    uint8_t b[2];
    StoreLe16(b, v);
    Bytes(b);
  }
  void U64(uint64_t v) {
    uint8_t b[8];
    StoreLe64(b, v);
    Bytes(b);
  }
  void Bytes(ByteSpan b) { out_.insert(out_.end(), b.begin(), b.end()); }
  // REQUIRES (of the token): at most 255 bytes; longer is cut.
  void String(std::string_view s) {
    s = s.substr(0, kMaxString);
    U8(uint8_t(s.size()));
    Bytes(ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  void Address(const IpAddress& a) {
    U8(a.is_v4() ? 4 : 6);
    Bytes(a.span());
  }
  void CidrValue(const Cidr& c) {
    Address(c.address());
    U8(c.prefix_len());
  }
  void OptionalCidr(const std::optional<Cidr>& c) {
    if (c) {
      CidrValue(*c);
    } else {
      U8(0);
    }
  }

 private:
  std::vector<uint8_t>& out_;
};

// Reads fields in order; the first failure names what was being read.
class Reader {
 public:
  explicit Reader(ByteSpan in) : in_(in) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return in_.size() - pos_; }

  void Fail(const std::string& what) {
    if (error_.empty()) error_ = what;
  }
  // The next n bytes, or an empty span (after Fail) if there are fewer.
  ByteSpan Take(size_t n, const char* field) {
    if (!ok()) return {};
    if (remaining() < n) {
      Fail(std::string("truncated (in ") + field + ")");
      return {};
    }
    ByteSpan s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  uint8_t U8(const char* field) {
    ByteSpan b = Take(1, field);
    return b.empty() ? 0 : b[0];
  }
  uint16_t U16(const char* field) {
    ByteSpan b = Take(2, field);
    return b.empty() ? 0 : LoadLe16(b.data());
  }
  uint64_t U64(const char* field) {
    ByteSpan b = Take(8, field);
    return b.empty() ? 0 : LoadLe64(b.data());
  }
  std::string String(const char* field) {
    uint8_t n = U8(field);
    ByteSpan b = Take(n, field);
    return std::string(b.begin(), b.end());
  }
  void Key(const char* field, uint8_t* out) {
    ByteSpan b = Take(crypto::kKeyLen, field);
    if (!b.empty()) std::copy(b.begin(), b.end(), out);
  }
  // An address after its family byte.
  IpAddress AddressOf(uint8_t family, const char* field) {
    if (family != 4 && family != 6) {
      Fail(std::string("unknown address family ") + std::to_string(family) +
           " in " + field);
      return IpAddress();
    }
    ByteSpan b = Take(family == 4 ? 4 : 16, field);
    if (b.empty()) return IpAddress();
    return family == 4 ? IpAddress::V4(b.data()) : IpAddress::V6(b.data());
  }
  IpAddress Address(const char* field) { return AddressOf(U8(field), field); }
  Cidr CidrAfter(uint8_t family, const char* field) {
    IpAddress a = AddressOf(family, field);
    uint8_t prefix = U8(field);
    if (!ok()) return Cidr();
    if (prefix > a.size() * 8) {
      Fail(std::string("prefix length /") + std::to_string(prefix) +
           " too long in " + field);
      return Cidr();
    }
    return Cidr(a, prefix);
  }
  Cidr CidrValue(const char* field) { return CidrAfter(U8(field), field); }
  std::optional<Cidr> OptionalCidr(const char* field) {
    uint8_t family = U8(field);
    if (!ok() || family == 0) return std::nullopt;
    return CidrAfter(family, field);
  }

 private:
  ByteSpan in_;
  size_t pos_ = 0;
  std::string error_;
};

Error Malformed(const std::string& what) {
  return MakeError(EINVAL, "malformed token: " + what);
}

crypto::Hash Checksum(ByteSpan body) { return crypto::Blake2s({body}); }

// `r`, its error prefixed with `what`.
Result<void> In(std::string_view what, Result<void> r) {
  if (r.ok()) return r;
  return r.error().Wrap(what);
}

// What the fields must satisfy beyond their encoding.
Result<void> CheckToken(const JoinToken& t) {
  if (!t.node_name.empty()) ZL_RETURN_IF_ERROR(ValidateNodeName(t.node_name));
  if (t.control_public_key.IsZero()) {
    return MakeError(EINVAL, "control public key is all zero");
  }
  if (t.control_endpoints.empty()) {
    return MakeError(EINVAL, "no control endpoint");
  }
  for (const Endpoint& e : t.control_endpoints) {
    if (e.port() == 0 || e.address().IsUnspecified()) {
      return MakeError(
          EINVAL, "control endpoint " + e.ToString() + " is not reachable");
    }
  }
  ZL_RETURN_IF_ERROR(In("params", ValidateParams(t.params)));
  if (!t.params.cidr4.Contains(t.control_address)) {
    return MakeError(EINVAL, "control address " + t.control_address.ToString() +
                                 " is outside the overlay CIDR " +
                                 t.params.cidr4.ToString());
  }
  auto index4 = SubnetIndex(t.params.cidr4, t.params.node_prefix4, t.subnet4);
  if (!index4.ok()) return index4.error();
  if (t.subnet6.has_value() != t.params.cidr6.has_value()) {
    return MakeError(EINVAL, t.subnet6
                                 ? "an IPv6 subnet, but the overlay has no IPv6"
                                 : "no IPv6 subnet, but the overlay has IPv6");
  }
  if (t.subnet6) {
    auto index6 =
        SubnetIndex(*t.params.cidr6, t.params.node_prefix6, *t.subnet6);
    if (!index6.ok()) return index6.error();
  }
  if (t.onetime_private_key.IsZero()) {
    return MakeError(EINVAL, "one-time key is all zero");
  }
  if (t.expires_at <= 0) return MakeError(EINVAL, "no expiry");
  return Ok();
}

}  // namespace

crypto::SecretString EncodeJoinToken(const JoinToken& token) {
  std::vector<uint8_t> body;
  WipeOnExit wipe_body(body);
  Writer w(body);
  w.U8(kVersion);
  uint8_t id[kIdLen] = {};
  HexDecode(token.id, id);  // REQUIRES: ValidateTokenId(token.id)
  w.Bytes(id);
  w.String(token.node_name);
  w.Bytes(token.control_public_key.span());
  const size_t endpoints =
      std::min(token.control_endpoints.size(), kMaxEndpoints);
  w.U8(uint8_t(endpoints));
  for (size_t i = 0; i < endpoints; ++i) {
    w.Address(token.control_endpoints[i].address());
    w.U16(token.control_endpoints[i].port());
  }
  w.Address(token.control_address);
  w.CidrValue(token.params.cidr4);
  w.OptionalCidr(token.params.cidr6);
  w.U8(token.params.node_prefix4);
  w.U8(token.params.node_prefix6);
  w.String(token.params.dns_zone);
  w.U16(token.params.api_port);
  w.U16(token.params.dns_port);
  w.U16(token.params.probe_port);
  w.CidrValue(token.subnet4);
  w.OptionalCidr(token.subnet6);
  w.Bytes(token.onetime_private_key.span());
  w.U64(uint64_t(token.expires_at));
  const crypto::Hash sum = Checksum(body);
  w.Bytes(ByteSpan(sum.data(), kChecksumLen));

  std::string b64 = Base64UrlEncode(body);
  std::string text;
  text.reserve(kTokenPrefix.size() + b64.size());
  text.append(kTokenPrefix).append(b64);
  crypto::SecretString out(text);
  crypto::SecureWipe(b64.data(), b64.size());
  crypto::SecureWipe(text.data(), text.size());
  return out;
}

Result<JoinToken> ParseJoinToken(std::string_view text) {
  // Pasted tokens often come with a newline or spaces around them.
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (text.empty()) return Malformed("empty");
  if (!text.starts_with(kTokenPrefix)) {
    return Malformed("it does not start with \"" + std::string(kTokenPrefix) +
                     "\"");
  }
  text.remove_prefix(kTokenPrefix.size());
  if (text.size() > kMaxBase64) return Malformed("too long");
  auto decoded = Base64UrlDecode(text);
  if (!decoded) {
    return Malformed(
        "not base64url (A-Z a-z 0-9 - _ only; mistyped or truncated?)");
  }
  WipeOnExit wipe_decoded(*decoded);
  if (decoded->size() < 1 + kChecksumLen) return Malformed("truncated");
  ByteSpan all(*decoded);
  ByteSpan body = all.first(all.size() - kChecksumLen);
  const crypto::Hash sum = Checksum(body);
  if (!crypto::ConstantTimeEqual(ByteSpan(sum.data(), kChecksumLen),
                                 all.last(kChecksumLen))) {
    return Malformed("checksum mismatch (mistyped or truncated?)");
  }

  Reader r(body);
  const uint8_t version = r.U8("version");
  if (version != kVersion) {
    return Malformed("unknown version " + std::to_string(version) +
                     " (this build reads version " + std::to_string(kVersion) +
                     ")");
  }
  JoinToken t;
  t.id = HexEncode(r.Take(kIdLen, "id"));
  t.node_name = r.String("node name");
  r.Key("control public key", t.control_public_key.data());
  const uint8_t endpoints = r.U8("control endpoints");
  if (endpoints > kMaxEndpoints) {
    r.Fail(std::to_string(endpoints) + " control endpoints (at most " +
           std::to_string(kMaxEndpoints) + ")");
  }
  for (uint8_t i = 0; r.ok() && i < endpoints; ++i) {
    IpAddress address = r.Address("control endpoint");
    uint16_t port = r.U16("control endpoint");
    t.control_endpoints.emplace_back(address, port);
  }
  t.control_address = r.Address("control address");
  t.params.cidr4 = r.CidrValue("overlay CIDR");
  t.params.cidr6 = r.OptionalCidr("overlay IPv6 CIDR");
  t.params.node_prefix4 = r.U8("node prefix");
  t.params.node_prefix6 = r.U8("node IPv6 prefix");
  t.params.dns_zone = r.String("DNS zone");
  t.params.api_port = r.U16("API port");
  t.params.dns_port = r.U16("DNS port");
  t.params.probe_port = r.U16("probe port");
  t.subnet4 = r.CidrValue("subnet");
  t.subnet6 = r.OptionalCidr("IPv6 subnet");
  r.Key("one-time private key", t.onetime_private_key.data());
  const uint64_t expires_at = r.U64("expiry");
  if (!r.ok()) return Malformed(r.error());
  if (r.remaining() != 0) {
    return Malformed(std::to_string(r.remaining()) + " trailing bytes");
  }
  if (expires_at > uint64_t(std::numeric_limits<int64_t>::max())) {
    return Malformed("expiry out of range");
  }
  t.expires_at = int64_t(expires_at);
  auto valid = CheckToken(t);
  if (!valid.ok()) return Malformed(valid.error().message());
  return t;
}

std::string NewTokenId() {
  uint8_t id[kIdLen];
  crypto::SystemRng().Fill(id);
  return HexEncode(id);
}

}  // namespace zl::overlay
