#include "uapi/codec.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>

#include "base/bytes.h"
#include "base/quote.h"

namespace zl::uapi {
namespace {

using device::ConfigRequest;
using device::DeviceState;
using device::PeerConfig;
using device::PeerState;

constexpr std::string_view kGetOperation = "get=1";
constexpr std::string_view kSetOperation = "set=1";
// A first line longer than this cannot be an operation.
constexpr size_t kMaxOperationBytes = kGetOperation.size();

Error Invalid(std::string message) { return Error(EINVAL, std::move(message)); }

// strconv.ParseUint(text, 10, bits): decimal digits only (no sign), any
// number of leading zeros, at most `max`.
std::optional<uint64_t> ParseUnsigned(std::string_view text, uint64_t max) {
  if (text.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t digit = uint64_t(c - '0');
    if (v > (max - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

// strconv.Atoi as Go 1.19's netip.ParsePrefix reads a prefix length: an
// optional sign, then decimal digits; the result must be in [0, max].
std::optional<uint32_t> ParsePrefixLength(std::string_view text, uint32_t max) {
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  auto v = ParseUnsigned(text, max);
  if (!v || (negative && *v != 0)) return std::nullopt;
  return uint32_t(*v);
}

bool ParseTrue(std::string_view value) { return value == "true"; }

template <typename Key>
bool ParseHexKey(std::string_view value, Key* key) {
  return HexDecode(value, MutableByteSpan(key->data(), Key::size()));
}

// netip.ParsePrefix: "address/length", the length required.
Result<Cidr> ParseAllowedIp(std::string_view value) {
  size_t slash = value.rfind('/');
  if (slash == std::string_view::npos) {
    return Invalid("failed to set allowed ip: no '/' in " + Quote(value));
  }
  auto address = IpAddress::Parse(value.substr(0, slash));
  if (!address.ok()) {
    return Invalid("failed to set allowed ip: bad address in " + Quote(value));
  }
  auto length =
      ParsePrefixLength(value.substr(slash + 1), uint32_t(address->size() * 8));
  if (!length) {
    return Invalid("failed to set allowed ip: bad prefix length in " +
                   Quote(value));
  }
  return Cidr(*address, uint8_t(*length));
}

void ClampPrivateKey(crypto::PrivateKey* key) {
  if (key->IsZero()) return;  // all zero means "clear", left as it is
  key->data()[0] &= 248;
  key->data()[31] = uint8_t((key->data()[31] & 127) | 64);
}

Result<void> ProcessDeviceKey(ConfigRequest& config, std::string_view key,
                              std::string_view value) {
  if (key == "private_key") {
    crypto::PrivateKey private_key;
    if (!ParseHexKey(value, &private_key)) {
      return Invalid("failed to set private_key: not 64 hex digits");
    }
    ClampPrivateKey(&private_key);
    config.private_key = std::move(private_key);
  } else if (key == "listen_port") {
    auto port = ParseUnsigned(value, UINT16_MAX);
    if (!port) return Invalid("failed to parse listen_port " + Quote(value));
    config.listen_port = uint16_t(*port);
  } else if (key == "fwmark") {
    auto mark = ParseUnsigned(value, UINT32_MAX);
    if (!mark) return Invalid("invalid fwmark " + Quote(value));
    config.fwmark = uint32_t(*mark);
  } else if (key == "replace_peers") {
    if (!ParseTrue(value)) {
      return Invalid("failed to set replace_peers, invalid value " +
                     Quote(value));
    }
    config.replace_peers = true;
  } else {
    return Invalid("invalid UAPI device key " + Quote(key));
  }
  return Ok();
}

Result<void> ProcessPeerKey(PeerConfig& peer, std::string_view key,
                            std::string_view value) {
  if (key == "update_only") {
    if (!ParseTrue(value)) {
      return Invalid("failed to set update only, invalid value " +
                     Quote(value));
    }
    peer.update_only = true;
  } else if (key == "remove") {
    if (!ParseTrue(value)) {
      return Invalid("failed to set remove, invalid value " + Quote(value));
    }
    peer.remove = true;
  } else if (key == "preshared_key") {
    crypto::PresharedKey psk;
    if (!ParseHexKey(value, &psk)) {
      return Invalid("failed to set preshared key: not 64 hex digits");
    }
    peer.preshared_key = std::move(psk);
  } else if (key == "endpoint") {
    // Endpoint::Parse quotes what it echoes (base/quote.h): its reason,
    // e.g. an unknown interface in a zone, is safe to pass on.
    auto endpoint = Endpoint::Parse(value);
    if (!endpoint.ok()) {
      return Invalid("failed to set endpoint: " + endpoint.error().message());
    }
    peer.endpoint = *endpoint;
  } else if (key == "persistent_keepalive_interval") {
    auto seconds = ParseUnsigned(value, UINT16_MAX);
    if (!seconds) {
      return Invalid("failed to set persistent keepalive interval " +
                     Quote(value));
    }
    peer.persistent_keepalive_interval = uint16_t(*seconds);
  } else if (key == "replace_allowed_ips") {
    if (!ParseTrue(value)) {
      return Invalid("failed to replace allowedips, invalid value " +
                     Quote(value));
    }
    // Everything this block added so far is dropped with the old list.
    peer.replace_allowed_ips = true;
    peer.allowed_ips.clear();
  } else if (key == "allowed_ip") {
    auto cidr = ParseAllowedIp(value);
    if (!cidr.ok()) return cidr.error();
    peer.allowed_ips.push_back(*cidr);
  } else if (key == "protocol_version") {
    if (value != "1") {
      return Invalid("invalid protocol version " + Quote(value));
    }
  } else {
    return Invalid("invalid UAPI peer key " + Quote(key));
  }
  return Ok();
}

// The writers below append to a std::string (SerializeSet, and
// SerializeGet's std::string form) or to a crypto::SecretBuffer (the
// server's answers, which carry keys); a key's hex goes straight into `out`,
// never through a temporary.
template <typename Out>
void AppendHexKey(Out& out, std::string_view name, ByteSpan key) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += name;
  out.push_back('=');
  for (uint8_t b : key) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  out.push_back('\n');
}

template <typename Out, typename Int>
void AppendNumber(Out& out, std::string_view name, Int value) {
  out += name;
  out.push_back('=');
  out += std::to_string(value);
  out.push_back('\n');
}

template <typename Out>
void AppendText(Out& out, std::string_view name, std::string_view value) {
  out += name;
  out.push_back('=');
  out += value;
  out.push_back('\n');
}

template <typename Out>
void AppendGet(const DeviceState& state, Out& out) {
  out.reserve(out.size() + 128 + state.peers.size() * 400);
  if (state.private_key && !state.private_key->IsZero()) {
    AppendHexKey(out, "private_key", state.private_key->span());
  }
  if (state.listen_port != 0) {
    AppendNumber(out, "listen_port", state.listen_port);
  }
  if (state.fwmark != 0) AppendNumber(out, "fwmark", state.fwmark);
  for (const PeerState& peer : state.peers) {
    AppendHexKey(out, "public_key", peer.public_key.span());
    AppendHexKey(out, "preshared_key",
                 peer.preshared_key.span());  // always, zeros if none
    out += "protocol_version=1\n";
    if (peer.endpoint) {
      AppendText(out, "endpoint", FormatEndpoint(*peer.endpoint));
    }
    // Nanoseconds since the Unix epoch, split as Go's / and % split them.
    int64_t nanos = 0;
    if (peer.last_handshake) {
      nanos = peer.last_handshake->time_since_epoch().count();
    }
    AppendNumber(out, "last_handshake_time_sec", nanos / 1'000'000'000);
    AppendNumber(out, "last_handshake_time_nsec", nanos % 1'000'000'000);
    AppendNumber(out, "tx_bytes", peer.tx_bytes);
    AppendNumber(out, "rx_bytes", peer.rx_bytes);
    AppendNumber(out, "persistent_keepalive_interval",
                 peer.persistent_keepalive_interval);
    for (const Cidr& cidr : peer.allowed_ips) {
      AppendText(out, "allowed_ip", FormatAllowedIp(cidr));
    }
  }
  out += "errno=0\n\n";
}

}  // namespace

size_t RequestParser::Feed(ByteSpan data) {
  size_t used = 0;
  while (status_ == Status::kNeedMore && used < data.size()) {
    if (stage_ == Stage::kGetBlank) {
      // wireguard-go reads exactly one byte after "get=1\n".
      ++transaction_bytes_;
      if (data[used++] == '\n') {
        status_ = Status::kComplete;
      } else {
        Fail(Status::kFailed, Invalid("trailing character in UAPI get"));
      }
      continue;
    }
    const uint8_t* begin = data.data() + used;
    size_t avail = data.size() - used;
    const auto* newline =
        static_cast<const uint8_t*>(std::memchr(begin, '\n', avail));
    size_t content = newline != nullptr ? size_t(newline - begin) : avail;
    size_t take = content + (newline != nullptr ? 1 : 0);

    // Where in this chunk a limit is crossed (the first byte past it), so
    // that any split of the input fails at the same byte with the same error.
    size_t line_limit =
        stage_ == Stage::kOperation ? kMaxOperationBytes : kMaxLineBytes;
    size_t line_fail = line_.size() + content > line_limit
                           ? line_limit - line_.size()
                           : SIZE_MAX;
    size_t txn_fail = transaction_bytes_ + take > max_transaction_bytes_
                          ? max_transaction_bytes_ - transaction_bytes_
                          : SIZE_MAX;
    if (line_fail != SIZE_MAX || txn_fail != SIZE_MAX) {
      size_t at = std::min(line_fail, txn_fail);
      used += at + 1;
      transaction_bytes_ += at + 1;
      if (line_fail <= txn_fail && stage_ == Stage::kOperation) {
        Fail(Status::kBadOperation, Error(EPROTO, "invalid UAPI operation"));
      } else if (line_fail <= txn_fail) {
        Fail(Status::kFailed,
             Error(EIO, "line longer than " + std::to_string(kMaxLineBytes) +
                            " bytes"));
      } else {
        Fail(Status::kFailed,
             Error(EMSGSIZE, "transaction longer than " +
                                 std::to_string(max_transaction_bytes_) +
                                 " bytes"));
      }
      break;
    }

    line_.append(
        std::string_view(reinterpret_cast<const char*>(begin), content));
    used += take;
    transaction_bytes_ += take;
    if (newline != nullptr) {
      // ProcessLine may Fail(), which wipes line_: it reads a copy's view
      // only until then, and the copy wipes itself too.
      crypto::SecretBuffer line = std::move(line_);
      line_ = crypto::SecretBuffer();
      ProcessLine(line.view());
    }
  }
  return used;
}

void RequestParser::ProcessLine(std::string_view line) {
  if (stage_ == Stage::kOperation) {
    if (line == kGetOperation) {
      request_.op = Request::kGet;
      stage_ = Stage::kGetBlank;
    } else if (line == kSetOperation) {
      request_.op = Request::kSet;
      stage_ = Stage::kSetLines;
    } else {
      Fail(Status::kBadOperation, Error(EPROTO, "invalid UAPI operation"));
    }
    return;
  }
  // bufio.ScanLines drops one '\r' before the '\n'.
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    status_ = Status::kComplete;
    return;
  }
  if (auto r = ProcessSetLine(line); !r.ok()) Fail(Status::kFailed, r.error());
}

Result<void> RequestParser::ProcessSetLine(std::string_view line) {
  size_t eq = line.find('=');
  if (eq == std::string_view::npos) {
    return Error(EPROTO, "failed to parse line " + Quote(line) + ": no '='");
  }
  std::string_view key = line.substr(0, eq);
  std::string_view value = line.substr(eq + 1);
  ConfigRequest& config = request_.config;
  if (key == "public_key") {
    PeerConfig peer;
    if (!ParseHexKey(value, &peer.public_key)) {
      return Invalid("failed to get peer by public key: not 64 hex digits");
    }
    config.peers.push_back(std::move(peer));
    return Ok();
  }
  // Interface keys only until the first public_key, as in wireguard-go.
  if (config.peers.empty()) return ProcessDeviceKey(config, key, value);
  return ProcessPeerKey(config.peers.back(), key, value);
}

void RequestParser::FeedEof() {
  if (status_ != Status::kNeedMore) return;
  switch (stage_) {
    case Stage::kOperation:
      if (transaction_bytes_ > 0) {
        Fail(Status::kBadOperation,
             Error(EPROTO, "stream ended inside the operation line"));
      }
      break;
    case Stage::kGetBlank:
      Fail(Status::kBadOperation,
           Error(EPROTO, "stream ended before the end of get"));
      break;
    case Stage::kSetLines:
      Fail(Status::kFailed,
           Error(EPROTO, "stream ended before the blank line ending set"));
      break;
  }
}

Request RequestParser::TakeRequest() {
  Request request = std::move(request_);
  request_ = Request{};
  status_ = Status::kNeedMore;
  stage_ = Stage::kOperation;
  transaction_bytes_ = 0;
  line_.clear();
  return request;
}

void RequestParser::Fail(Status status, Error error) {
  status_ = status;
  error_ = std::move(error);
  request_ = Request{};  // wipes any key material parsed so far
  line_.clear();
}

Result<Request> ParseRequest(std::string_view text) {
  RequestParser parser;
  size_t used = parser.Feed(text);
  if (parser.status() == RequestParser::Status::kNeedMore) parser.FeedEof();
  switch (parser.status()) {
    case RequestParser::Status::kComplete:
      if (used != text.size()) {
        return Error(EPROTO, "bytes after the end of the transaction");
      }
      return parser.TakeRequest();
    case RequestParser::Status::kNeedMore:
      return Error(EPROTO, "empty request");
    case RequestParser::Status::kFailed:
    case RequestParser::Status::kBadOperation:
      break;
  }
  return parser.error();
}

std::string FormatAddress(const IpAddress& address) {
  if (address.is_v4()) return address.ToString();
  const auto& b = address.bytes();
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                                0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(b.begin(), b.begin() + 12, kMappedPrefix)) {
    return "::ffff:" + IpAddress::V4(b.data() + 12).ToString();
  }
  uint16_t words[8];
  for (int i = 0; i < 8; ++i) words[i] = LoadBe16(b.data() + 2 * i);
  // The first longest run of two or more zero words becomes "::" (RFC 5952).
  int zero_start = -1, zero_len = 0;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && words[j] == 0) ++j;
    if (j - i >= 2 && j - i > zero_len) {
      zero_start = i;
      zero_len = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == zero_start) {
      out += "::";
      i += zero_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    int n = std::snprintf(buf, sizeof(buf), "%x", unsigned(words[i]));
    out.append(buf, size_t(n));
  }
  return out;
}

std::string FormatEndpoint(const Endpoint& endpoint) {
  return endpoint.FormatWith(FormatAddress(endpoint.address()));
}

std::string FormatAllowedIp(const Cidr& cidr) {
  Cidr masked = cidr.Masked();
  return FormatAddress(masked.address()) + "/" +
         std::to_string(masked.prefix_len());
}

std::string SerializeGet(const DeviceState& state) {
  std::string out;
  AppendGet(state, out);
  return out;
}

void SerializeGet(const DeviceState& state, crypto::SecretBuffer& out) {
  AppendGet(state, out);
}

int WireErrno(int errno_value) {
  // Linux's numbers for the errno values the project reports; on Linux each
  // pair is the same number twice. Windows' C runtime numbers some of them
  // differently (EPROTO is 134 there, EADDRINUSE 100).
  struct LinuxNumber {
    int local;
    int linux_value;
  };
  static constexpr LinuxNumber kLinuxNumbers[] = {
      {EPERM, 1},       {ENOENT, 2},         {EIO, 5},       {ENOMEM, 12},
      {EACCES, 13},     {EBUSY, 16},         {EEXIST, 17},   {ENODEV, 19},
      {EINVAL, 22},     {ENOSPC, 28},        {EPIPE, 32},    {ERANGE, 34},
      {EPROTO, 71},     {EMSGSIZE, 90},      {ENOTSUP, 95},  {EOPNOTSUPP, 95},
      {EADDRINUSE, 98}, {EADDRNOTAVAIL, 99}, {ENOBUFS, 105}, {ETIMEDOUT, 110},
      {ECANCELED, 125}, {ESHUTDOWN, 108},
  };
  for (const auto& n : kLinuxNumbers) {
    if (n.local == errno_value) return n.linux_value;
  }
  return errno_value;
}

std::string SerializeErrno(int errno_value) {
  // The wire carries the negated errno; a stray negative code is not
  // negated twice.
  const int64_t raw =
      errno_value < 0 ? -int64_t(errno_value) : int64_t(errno_value);
  const int64_t magnitude = raw <= INT_MAX ? WireErrno(int(raw)) : raw;
  return "errno=" + std::to_string(-magnitude) + "\n\n";
}

std::string SerializeSet(const ConfigRequest& config) {
  std::string out = "set=1\n";
  if (config.private_key) {
    AppendHexKey(out, "private_key", config.private_key->span());
  }
  if (config.listen_port) AppendNumber(out, "listen_port", *config.listen_port);
  if (config.fwmark) AppendNumber(out, "fwmark", *config.fwmark);
  if (config.replace_peers) out += "replace_peers=true\n";
  for (const PeerConfig& peer : config.peers) {
    AppendHexKey(out, "public_key", peer.public_key.span());
    if (peer.remove) out += "remove=true\n";
    if (peer.update_only) out += "update_only=true\n";
    if (peer.preshared_key) {
      AppendHexKey(out, "preshared_key", peer.preshared_key->span());
    }
    if (peer.endpoint) {
      AppendText(out, "endpoint", FormatEndpoint(*peer.endpoint));
    }
    if (peer.persistent_keepalive_interval) {
      AppendNumber(out, "persistent_keepalive_interval",
                   *peer.persistent_keepalive_interval);
    }
    if (peer.replace_allowed_ips) out += "replace_allowed_ips=true\n";
    // As configured (not masked), so parsing gives back the same value.
    for (const Cidr& cidr : peer.allowed_ips) {
      AppendText(out, "allowed_ip",
                 FormatAddress(cidr.address()) + "/" +
                     std::to_string(cidr.prefix_len()));
    }
  }
  out += '\n';
  return out;
}

}  // namespace zl::uapi
