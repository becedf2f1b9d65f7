#pragma once
// IpAddress, Cidr and Endpoint: IPv4 and IPv6 values with parsing and
// formatting that give clear errors.
//
// Textual forms: "192.0.2.1", "2001:db8::1"; Cidr "10.0.0.0/8", "fd00::/64";
// Endpoint "192.0.2.1:51820", "[2001:db8::1]:51820" (the bracket form is
// required for IPv6, as in wg(8)), and with an IPv6 scope (zone)
// "[fe80::1%eth0]:51820" or "[fe80::1%3]:51820". IPv4-mapped IPv6 addresses
// stay IPv6.
//
// Endpoint scopes. An IPv6 endpoint carries a scope id, the interface index
// that sockaddr_in6.sin6_scope_id holds (0: none); a link-local peer
// (fe80::/10) is reachable only with one. Parsing accepts a zone on any IPv6
// address, as wireguard-go does (netip.ParseAddrPort, then the zone as an
// interface name, else as a decimal index) and as the kernel keeps whatever
// sin6_scope_id wg(8) gives it; a zone on an IPv4 address, an empty zone and
// a name that is neither an interface nor a number are errors. Printing
// follows glibc's getnameinfo(), which wg(8) uses: the interface name for a
// link-local unicast or multicast address whose index has a name, otherwise
// the decimal index, so that wg(8) (getaddrinfo()) reads back every form we
// print. Names are looked up in the calling thread's network namespace, at
// Parse and ToString time only; the value itself holds just the index.
//
// Thread safety: values; Parse and ToString of a scoped endpoint make one
// if_nametoindex/if_indextoname call (a socket ioctl), nothing else.

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace zl {

class IpAddress {
 public:
  enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

  // The unspecified IPv4 address 0.0.0.0.
  IpAddress() = default;

  static IpAddress V4(const uint8_t bytes[4]);
  static IpAddress V4(uint32_t host_order);
  static IpAddress V6(const uint8_t bytes[16]);
  static Result<IpAddress> Parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  bool is_v6() const { return family_ == Family::kV6; }
  // Address length in bytes: 4 or 16.
  size_t size() const { return is_v4() ? 4 : 16; }
  // Network-order bytes; the first size() are meaningful, the rest are zero.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  ByteSpan span() const { return ByteSpan(bytes_.data(), size()); }
  bool IsUnspecified() const { return IsAllZero(span()); }

  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

// A network prefix. The address is kept as given (wg(8) prints allowed IPs as
// configured, host bits masked); Masked() clears the host bits.
class Cidr {
 public:
  Cidr() = default;
  // REQUIRES: prefix_len <= address.size() * 8
  Cidr(IpAddress address, uint8_t prefix_len);
  // "a.b.c.d/n" or "x::y/n"; a bare address means a host prefix (/32, /128).
  static Result<Cidr> Parse(std::string_view text);

  const IpAddress& address() const { return address_; }
  uint8_t prefix_len() const { return prefix_len_; }
  Cidr Masked() const;
  bool Contains(const IpAddress& ip) const;
  std::string ToString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;
  friend auto operator<=>(const Cidr&, const Cidr&) = default;

 private:
  IpAddress address_;
  uint8_t prefix_len_ = 0;
};

class Endpoint {
 public:
  Endpoint() = default;
  // An IPv4 endpoint has no scope: `scope_id` is ignored for it.
  Endpoint(IpAddress address, uint16_t port, uint32_t scope_id = 0)
      : address_(address), port_(port), scope_id_(address.is_v6() ? scope_id : 0) {}
  // "host:port" with an IPv4 host, "[v6]:port" or "[v6%zone]:port" with an
  // IPv6 host (see "Endpoint scopes" above).
  static Result<Endpoint> Parse(std::string_view text);

  const IpAddress& address() const { return address_; }
  uint16_t port() const { return port_; }
  // The IPv6 interface index (sin6_scope_id); 0 when unscoped or IPv4.
  uint32_t scope_id() const { return scope_id_; }

  // "192.0.2.1:51820", "[2001:db8::1]:51820", "[fe80::1%eth0]:51820".
  std::string ToString() const;
  // The same with the address written as `address_text` (for a caller's own
  // address format, e.g. the UAPI's Go-style text).
  std::string FormatWith(std::string_view address_text) const;
  // The zone as printed after '%': "" when unscoped (see "Endpoint scopes").
  std::string Zone() const;

  // The scope takes part: [fe80::1%1]:1 and [fe80::1%2]:1 are two endpoints.
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;

 private:
  IpAddress address_;
  uint16_t port_ = 0;
  uint32_t scope_id_ = 0;
};

}  // namespace zl
