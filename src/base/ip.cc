#include "base/ip.h"

#ifdef _WIN32
// inet_pton/ntop (ws2_32), if_nametoindex/if_indextoname (iphlpapi); this
// order is the one the headers need.
#include <winsock2.h>
#include <ws2ipdef.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <netioapi.h>
#else
#include <arpa/inet.h>
#include <net/if.h>
#endif

#include <charconv>
#include <cstring>

#include "base/quote.h"

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

// Link-local unicast (fe80::/10) and link-local multicast (ffX2::/16): the
// addresses whose scope getnameinfo() prints as an interface name.
bool ScopeHasName(const IpAddress& address) {
  const auto& b = address.bytes();
  return address.is_v6() &&
         ((b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || (b[0] == 0xff && (b[1] & 0x0f) == 0x02));
}

// The zone of an endpoint (`text`, for messages) as an interface index: an
// interface name first (if_nametoindex), then a decimal index, as
// wireguard-go's zoneToUint32.
Result<uint32_t> ParseZone(std::string_view zone, std::string_view text) {
  if (zone.empty()) {
    return MakeError(EINVAL, "invalid endpoint " + Quote(text) + " (empty zone after '%')");
  }
  if (zone.size() < IF_NAMESIZE && zone.find('\0') == std::string_view::npos) {
    char name[IF_NAMESIZE];
    std::memcpy(name, zone.data(), zone.size());
    name[zone.size()] = 0;
    if (unsigned index = if_nametoindex(name); index != 0) return uint32_t(index);
  }
  uint32_t index = 0;
  if (ParseDecimal(zone, UINT32_MAX, &index)) return index;
  return MakeError(EINVAL, "unknown interface " + Quote(zone) + " in endpoint " + Quote(text));
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
  return MakeError(EINVAL, "invalid IP address " + Quote(text));
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
    return MakeError(EINVAL, "invalid prefix length in " + Quote(text) + " (0.." +
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
      return MakeError(EINVAL, "invalid endpoint " + Quote(text) + " (expected [IPv6]:port)");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) {
      return MakeError(EINVAL,
                       "invalid endpoint " + Quote(text) + " (brackets are for IPv6 addresses)");
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return MakeError(EINVAL, "invalid endpoint " + Quote(text) + " (missing port)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return MakeError(EINVAL, "invalid endpoint " + Quote(text) +
                                   " (IPv6 endpoints are written [address]:port)");
    }
  }
  const size_t percent = host.find('%');
  const std::string_view zone =
      percent == std::string_view::npos ? std::string_view() : host.substr(percent + 1);
  auto addr = IpAddress::Parse(host.substr(0, percent));
  if (!addr.ok()) return addr.error().Wrap("invalid endpoint");
  uint32_t p = 0;
  if (!ParseDecimal(port, 65535, &p)) {
    return MakeError(EINVAL, "invalid port in endpoint " + Quote(text));
  }
  if (percent == std::string_view::npos) return Endpoint(*addr, uint16_t(p));
  if (addr->is_v4()) {
    return MakeError(EINVAL, "invalid endpoint " + Quote(text) +
                                 " (a zone after '%' is for IPv6 addresses only)");
  }
  auto scope_id = ParseZone(zone, text);
  if (!scope_id.ok()) return scope_id.error();
  return Endpoint(*addr, uint16_t(p), *scope_id);
}

std::string Endpoint::ToString() const { return FormatWith(address_.ToString()); }

std::string Endpoint::FormatWith(std::string_view address_text) const {
  // Appended piece by piece into one buffer: GCC 12 at -O3 reports a false
  // -Wrestrict on `"literal" + std::string` (the operator+ that inserts at
  // the front of a temporary).
  char port[8];
  const size_t port_size = size_t(std::to_chars(port, port + sizeof(port), port_).ptr - port);
  std::string out;
  out.reserve(address_text.size() + IF_NAMESIZE + 10);
  if (address_.is_v6()) out.push_back('[');
  out.append(address_text);
  if (scope_id_ != 0) {
    out.push_back('%');
    out.append(Zone());
  }
  if (address_.is_v6()) out.push_back(']');
  out.push_back(':');
  out.append(port, port_size);
  return out;
}

std::string Endpoint::Zone() const {
  if (scope_id_ == 0) return std::string();
  char name[IF_NAMESIZE];
  if (ScopeHasName(address_) && if_indextoname(scope_id_, name) != nullptr) return name;
  return std::to_string(scope_id_);
}

}  // namespace zl
