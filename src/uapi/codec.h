#pragma once
// The text codec of WireGuard's cross-platform configuration protocol
// (wireguard.com/xplatform), byte for byte as wireguard-go speaks it. Pure: no
// I/O, no clock, no device; the server (uapi/server.h) feeds it bytes.
//
// A transaction is `get=1\n\n`, or `set=1\n`, key=value lines and an empty
// line. The answer to get is the state's key=value lines, then `errno=0\n\n`;
// the answer to set is `errno=N\n\n`. On the wire N is the NEGATED errno
// (wireguard-go's ipc.IpcError* values): -22 EINVAL for a bad key or value,
// -71 EPROTO for a line without '=', -5 EIO for a line over 65535 bytes,
// -98 EADDRINUSE when the device cannot bind the listen port.
//
// Set semantics follow wireguard-go's device/uapi.go: interface keys
// (private_key, listen_port, fwmark, replace_peers) come before the first
// public_key; after it every key belongs to the current peer, so an interface
// key there is an unknown peer key (EINVAL). `true` is the only accepted value
// of the boolean keys. Keys are 64 hex digits in either case; a private key is
// clamped unless it is all zero (which clears it). Where zlayer differs on
// purpose: a transaction is validated whole before any of it is applied
// (wireguard-go applies line by line up to the bad line), a transaction cut
// off by EOF before its blank line is an error (wireguard-go applies what it
// read and answers 0), and `allowed_ip=-PREFIX` (removal, newer than the
// wireguard-go we match) is rejected, as wireguard-go v0.0.20220316 does.
//
// Thread safety: RequestParser is a value owned by one thread; the free
// functions are pure.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/ip.h"
#include "base/result.h"
#include "crypto/secret_buffer.h"
#include "device/config.h"

namespace zl::uapi {

// The longest set line wireguard-go reads (bufio.Scanner's 64 KiB buffer
// holds the line and its '\n'); a longer one is answered with EIO.
inline constexpr size_t kMaxLineBytes = 65535;
// Our own bound on one transaction; EMSGSIZE past it. 8 MiB holds ~33,000
// peer blocks of ~250 bytes (key, preshared key, endpoint, keepalive, an
// allowed IP); a larger configuration is set in several transactions. With
// the server's 16 clients at most 128 MiB of requests are buffered.
inline constexpr size_t kMaxTransactionBytes = size_t{8} << 20;

struct Request {
  enum Op { kGet, kSet };
  Op op = kGet;
  device::ConfigRequest config;  // kSet only
};

// Parses a byte stream into transactions, as the bytes arrive.
//
//   RequestParser parser;
//   while (bytes left) {
//     bytes += parser.Feed(bytes);
//     switch (parser.status()) {
//       case kComplete: handle(parser.TakeRequest()); break;  // next one
//       case kFailed: answer SerializeErrno(parser.error().code()); close;
//       case kBadOperation: close without answering (as wireguard-go);
//       case kNeedMore: read more;
//     }
//   }
//   at EOF: parser.FeedEof(), then the same switch (kNeedMore: clean end).
class RequestParser {
 public:
  enum class Status {
    kNeedMore,      // the current transaction is not finished
    kComplete,      // a transaction is ready: TakeRequest()
    kFailed,        // a bad set line or get terminator: answer error(), close
    kBadOperation,  // the first line is not get=1/set=1: close, no answer
  };

  explicit RequestParser(size_t max_transaction_bytes = kMaxTransactionBytes)
      : max_transaction_bytes_(max_transaction_bytes) {}

  // Consumes bytes of `data` up to and including the end of one transaction
  // (or the byte that made it fail) and returns how many it consumed. Feeding
  // in any split gives the same result as feeding everything at once.
  // Consumes nothing unless status() is kNeedMore.
  size_t Feed(ByteSpan data);
  size_t Feed(std::string_view data) {
    return Feed(
        ByteSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  // The stream ended. Between transactions the status stays kNeedMore (a
  // clean end); inside a set it becomes kFailed (EPROTO); inside the first
  // line, or before get's blank line, kBadOperation.
  void FeedEof();

  Status status() const { return status_; }
  // True when some bytes of an unfinished transaction have been consumed.
  bool InTransaction() const {
    return status_ == Status::kNeedMore && transaction_bytes_ > 0;
  }

  // REQUIRES: status() == kComplete. Returns the request and makes the parser
  // ready for the next transaction.
  Request TakeRequest();
  // REQUIRES: status() is kFailed or kBadOperation.
  const Error& error() const { return error_; }

 private:
  enum class Stage { kOperation, kGetBlank, kSetLines };

  void ProcessLine(std::string_view line);
  Result<void> ProcessSetLine(std::string_view line);
  void Fail(Status status, Error error);

  size_t max_transaction_bytes_;
  Status status_ = Status::kNeedMore;
  Stage stage_ = Stage::kOperation;
  size_t transaction_bytes_ = 0;
  crypto::SecretBuffer line_;  // the unfinished line (may hold a key)
  Request request_;
  Error error_{EPROTO, ""};
};

// Parses exactly one whole transaction (the fuzzer's and the tests' entry).
// Trailing bytes after it, EOF inside it, or a bad first line are errors.
Result<Request> ParseRequest(std::string_view text);

// The answer to get=1: state lines in wireguard-go's order, then "errno=0\n\n".
// Keys and the preshared key print as lower-case hex; allowed IPs print with
// host bits cleared; addresses print as Go's net/netip does.
std::string SerializeGet(const device::DeviceState& state);
// The same, appended to `out`: the form for answers on the wire, since the
// text holds the private key and the preshared keys.
void SerializeGet(const device::DeviceState& state, crypto::SecretBuffer& out);

// "errno=-N\n\n" for a positive errno N (Error::code()), "errno=0\n\n" for 0.
// N is the Linux number (WireErrno) on every platform, as wireguard-go sends.
std::string SerializeErrno(int errno_value);
// The Linux number of this platform's errno value `errno_value` (EPROTO is
// 71 on the wire, though 134 on Windows); itself on Linux, and for a value
// the project never reports.
int WireErrno(int errno_value);

// A set transaction that ParseRequest turns back into `config` (the inverse
// of parsing; for clients, tests and the fuzzer). Writes every present field.
std::string SerializeSet(const device::ConfigRequest& config);

// Text forms as wireguard-go prints them (Go's net/netip): RFC 5952 IPv6,
// "::ffff:a.b.c.d" for IPv4-mapped addresses and no other embedded IPv4.
std::string FormatAddress(const IpAddress& address);
// With an IPv6 scope "[fe80::1%eth0]:51820", as netip.AddrPort prints a
// zone (the zone's text as base/ip.h gives it: the interface name for a
// link-local address, else the index), which wg(8) reads back with
// getaddrinfo(). A set `endpoint=` accepts the zone as a name or an index
// (base/ip.h); an unknown interface is EINVAL. (Debian's wireguard-go
// 0.0.20220316 accepts the zone too but leaves it out of its get answer.)
std::string FormatEndpoint(const Endpoint& endpoint);
// Host bits cleared, as wireguard-go's allowed-IPs trie reports prefixes.
std::string FormatAllowedIp(const Cidr& cidr);

}  // namespace zl::uapi
