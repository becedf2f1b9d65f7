#pragma once
// IpAddress, Cidr and Endpoint: IPv4 and IPv6 values with parsing and
// formatting that give clear errors.
//
// Textual forms: "192.0.2.1", "2001:db8::1"; Cidr "10.0.0.0/8", "fd00::/64";
// Endpoint "192.0.2.1:51820", "[2001:db8::1]:51820" (the bracket form is
// required for IPv6, as in wg(8)). IPv4-mapped IPv6 addresses stay IPv6.

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
  Endpoint(IpAddress address, uint16_t port) : address_(address), port_(port) {}
  // "host:port" with an IPv4 host, "[v6]:port" with an IPv6 host.
  static Result<Endpoint> Parse(std::string_view text);

  const IpAddress& address() const { return address_; }
  uint16_t port() const { return port_; }
  std::string ToString() const;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;

 private:
  IpAddress address_;
  uint16_t port_ = 0;
};

}  // namespace zl
