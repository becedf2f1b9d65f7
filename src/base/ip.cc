#include "base/ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace zl {
namespace {

// Parses a decimal integer that must fill `text` exactly and be <= max.
bool ParseDecimal(std::string_view text, uint32_t max, uint32_t* out) {
  if (text.empty() || text.size() > 10) return false;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

IpAddress IpAddress::V4(const uint8_t bytes[4]) {
  IpAddress a;
  a.family_ = Family::kV4;
  std::memcpy(a.bytes_.data(), bytes, 4);
  return a;
}

IpAddress IpAddress::V4(uint32_t host_order) {
  uint8_t b[4];
  StoreBe32(b, host_order);
  return V4(b);
}

IpAddress IpAddress::V6(const uint8_t bytes[16]) {
  IpAddress a;
  a.family_ = Family::kV6;
  std::memcpy(a.bytes_.data(), bytes, 16);
  return a;
}

Result<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty()) return MakeError(EINVAL, "empty IP address");
  if (text.size() > INET6_ADDRSTRLEN) {
    return MakeError(EINVAL, "IP address too long");
  }
  char buf[INET6_ADDRSTRLEN + 1];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  uint8_t bytes[16];
  if (text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buf, bytes) == 1) return V6(bytes);
  } else if (inet_pton(AF_INET, buf, bytes) == 1) {
    return V4(bytes);
  }
  return MakeError(EINVAL, "invalid IP address '" + std::string(text) + "'");
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

Cidr::Cidr(IpAddress address, uint8_t prefix_len) : address_(address), prefix_len_(prefix_len) {}

Result<Cidr> Cidr::Parse(std::string_view text) {
  size_t slash = text.find('/');
  auto addr = IpAddress::Parse(text.substr(0, slash));
  if (!addr.ok()) return addr.error();
  uint32_t max = uint32_t(addr->size() * 8);
  uint32_t len = max;
  if (slash != std::string_view::npos &&
      !ParseDecimal(text.substr(slash + 1), max, &len)) {
    return MakeError(EINVAL, "invalid prefix length in '" + std::string(text) + "' (0.." +
                                 std::to_string(max) + ")");
  }
  return Cidr(*addr, uint8_t(len));
}

Cidr Cidr::Masked() const {
  std::array<uint8_t, 16> b = address_.bytes();
  for (size_t i = 0; i < address_.size(); ++i) {
    int bits = int(prefix_len_) - int(i * 8);
    if (bits >= 8) continue;
    b[i] &= bits <= 0 ? 0 : uint8_t(0xff << (8 - bits));
  }
  return Cidr(address_.is_v4() ? IpAddress::V4(b.data()) : IpAddress::V6(b.data()), prefix_len_);
}

bool Cidr::Contains(const IpAddress& ip) const {
  if (ip.family() != address_.family()) return false;
  return Cidr(ip, prefix_len_).Masked().address() == Masked().address();
}

std::string Cidr::ToString() const {
  return address_.ToString() + "/" + std::to_string(prefix_len_);
}

Result<Endpoint> Endpoint::Parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return MakeError(EINVAL, "invalid endpoint '" + std::string(text) +
                                   "' (expected [IPv6]:port)");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) {
      return MakeError(EINVAL, "invalid endpoint '" + std::string(text) +
                                   "' (brackets are for IPv6 addresses)");
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return MakeError(EINVAL, "invalid endpoint '" + std::string(text) + "' (missing port)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return MakeError(EINVAL, "invalid endpoint '" + std::string(text) +
                                   "' (IPv6 endpoints are written [address]:port)");
    }
  }
  auto addr = IpAddress::Parse(host);
  if (!addr.ok()) return addr.error().Wrap("invalid endpoint");
  uint32_t p = 0;
  if (!ParseDecimal(port, 65535, &p)) {
    return MakeError(EINVAL, "invalid port in endpoint '" + std::string(text) + "'");
  }
  return Endpoint(*addr, uint16_t(p));
}

std::string Endpoint::ToString() const {
  if (address_.is_v6()) return "[" + address_.ToString() + "]:" + std::to_string(port_);
  return address_.ToString() + ":" + std::to_string(port_);
}

}  // namespace zl
