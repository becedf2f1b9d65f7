#include "overlay/model.h"

#include <algorithm>

#include <array>
#include <string>

#include "overlay/ipam.h"

namespace zl::overlay {
namespace {

constexpr size_t kMaxLabel = 63;     // RFC 1035 §2.3.4
constexpr size_t kMaxDnsName = 253;  // in text form, without the final dot
constexpr std::string_view kReservedNames[] = {"leader", "ns1"};

// `text` in quotes for a message: printable ASCII as is, other bytes as
// \xNN, cut after 64 characters, so garbage input cannot garble a log line.
std::string Quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += char(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (text.size() > 64) out += "...";
  return out + "'";
}

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// One host label: [a-z0-9-]{1,63}, no '-' at either end. `what` names the
// thing checked in the message.
Result<void> ValidateHostLabel(std::string_view label, std::string_view what) {
  const std::string quoted = std::string(what) + " " + Quote(label);
  if (label.empty()) {
    return MakeError(EINVAL, std::string(what) + " has an empty label");
  }
  if (label.size() > kMaxLabel) {
    return MakeError(
        EINVAL, std::string(what) + " has a label longer than 63 characters");
  }
  for (char c : label) {
    if (!IsLowerAlnum(c) && c != '-') {
      return MakeError(
          EINVAL, quoted + " may hold only lowercase letters, digits and '-'");
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return MakeError(EINVAL, quoted + " must not start or end with '-'");
  }
  return Ok();
}

// Dot-separated host labels, at most 253 characters.
Result<void> ValidateHostName(std::string_view name, std::string_view what) {
  if (name.empty()) return MakeError(EINVAL, std::string(what) + " is empty");
  if (name.size() > kMaxDnsName) {
    return MakeError(EINVAL,
                     std::string(what) + " is longer than 253 characters");
  }
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    ZL_RETURN_IF_ERROR(
        ValidateHostLabel(name.substr(start, dot - start), what));
    if (dot == std::string_view::npos) return Ok();
    start = dot + 1;
  }
}

// EINVAL when the single label `name` is reserved (a dotted name never is).
Result<void> CheckNotReserved(std::string_view name, std::string_view what) {
  for (std::string_view reserved : kReservedNames) {
    if (name == reserved) {
      return MakeError(EINVAL,
                       std::string(what) + " " + Quote(name) + " is reserved");
    }
  }
  return Ok();
}

Result<void> ValidatePool(const Cidr& pool, IpAddress::Family family,
                          uint8_t prefix, std::string_view what) {
  if (pool.address().family() != family) {
    return MakeError(EINVAL,
                     std::string(what) + " " + pool.ToString() + " is not an " +
                         (family == IpAddress::Family::kV4 ? "IPv4" : "IPv6") +
                         " CIDR");
  }
  auto count = SubnetCount(pool, prefix);
  if (!count.ok()) return count.error().Wrap(what);
  return Ok();
}

}  // namespace

IpAddress NodeAddress(const Cidr& subnet) {
  Cidr masked = subnet.Masked();
  std::array<uint8_t, 16> b = masked.address().bytes();
  const size_t n = masked.address().size();
  // The network address is not a host's, unless the subnet has no other
  // (/31 and /32, /127 and /128). The host bits are clear, so +1 is |1.
  if (int(n * 8) - masked.prefix_len() >= 2) b[n - 1] |= 1;
  return masked.address().is_v4() ? IpAddress::V4(b.data())
                                  : IpAddress::V6(b.data());
}

namespace {
std::array<uint8_t, 16> EnrolmentPrefixBytes() {
  return Cidr::Parse(kEnrolmentPrefix)->address().bytes();
}
}  // namespace

IpAddress EnrolmentControlAddress() {
  std::array<uint8_t, 16> b = EnrolmentPrefixBytes();
  b[15] = 1;
  return IpAddress::V6(b.data());
}

IpAddress EnrolmentAddress(std::string_view token_id) {
  std::array<uint8_t, 16> b = EnrolmentPrefixBytes();
  uint8_t id[8] = {};
  if (token_id.size() == 16 && HexDecode(token_id, MutableByteSpan(id, 8))) {
    std::copy(std::begin(id), std::end(id), b.begin() + 8);
  }
  // Never ::1 (the control node's): flip the lowest bit of the universal/
  // local-like byte if the id happens to be 0...01.
  if (std::all_of(b.begin() + 8, b.begin() + 15, [](uint8_t x) { return x == 0; }) && b[15] <= 1) {
    b[15] = 2;
  }
  return IpAddress::V6(b.data());
}

std::vector<IpAddress> MemberAddresses(const Member& member) {
  std::vector<IpAddress> out{NodeAddress(member.subnet4)};
  if (member.subnet6) out.push_back(NodeAddress(*member.subnet6));
  return out;
}

std::vector<Cidr> MemberAllowedIps(const Member& member) {
  std::vector<Cidr> out{member.subnet4.Masked()};
  if (member.subnet6) out.push_back(member.subnet6->Masked());
  return out;
}

Result<void> ValidateNodeName(std::string_view name) {
  if (name.empty()) return MakeError(EINVAL, "node name is empty");
  if (name.find('.') != std::string_view::npos) {
    return MakeError(EINVAL, "node name " + Quote(name) +
                                 " must be a single DNS label (no '.')");
  }
  ZL_RETURN_IF_ERROR(ValidateHostLabel(name, "node name"));
  return CheckNotReserved(name, "node name");
}

Result<void> ValidateParams(const OverlayParams& params) {
  ZL_RETURN_IF_ERROR(ValidatePool(params.cidr4, IpAddress::Family::kV4,
                                  params.node_prefix4, "overlay CIDR"));
  if (params.cidr6) {
    ZL_RETURN_IF_ERROR(ValidatePool(*params.cidr6, IpAddress::Family::kV6,
                                    params.node_prefix6, "overlay IPv6 CIDR"));
  }
  ZL_RETURN_IF_ERROR(ValidateHostName(params.dns_zone, "DNS zone"));
  if (params.api_port == 0 || params.dns_port == 0 || params.probe_port == 0) {
    return MakeError(EINVAL, "API, DNS and probe ports must not be 0");
  }
  if (params.api_port == params.dns_port) {
    return MakeError(EINVAL, "the API and DNS ports are both TCP port " +
                                 std::to_string(params.api_port));
  }
  if (params.probe_port == params.dns_port) {
    return MakeError(EINVAL, "the probe and DNS ports are both UDP port " +
                                 std::to_string(params.dns_port));
  }
  return Ok();
}

const char* TokenStateName(TokenRecord::State state) {
  switch (state) {
    case TokenRecord::State::kPending:
      return "pending";
    case TokenRecord::State::kUsed:
      return "used";
    case TokenRecord::State::kRevoked:
      return "revoked";
  }
  return "unknown";
}

Result<void> ValidateTokenId(std::string_view id) {
  bool hex = id.size() == 16;
  for (char c : id) {
    hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  if (!hex) {
    return MakeError(EINVAL, "token id must be 16 lowercase hex digits");
  }
  return Ok();
}

Result<void> ValidateDnsName(std::string_view name) {
  if (name.empty() || name[0] != '_') {
    ZL_RETURN_IF_ERROR(ValidateHostName(name, "DNS name"));
    return CheckNotReserved(name, "DNS name");
  }
  // "_service._proto.host": two '_' labels, then a host name.
  if (name.size() > kMaxDnsName) {
    return MakeError(EINVAL, "DNS name is longer than 253 characters");
  }
  size_t first = name.find('.');
  size_t second =
      first == std::string_view::npos ? first : name.find('.', first + 1);
  if (second == std::string_view::npos || name[first + 1] != '_') {
    return MakeError(EINVAL, "service name " + Quote(name) +
                                 " must look like _service._proto.host");
  }
  ZL_RETURN_IF_ERROR(
      ValidateHostLabel(name.substr(1, first - 1), "service label"));
  ZL_RETURN_IF_ERROR(ValidateHostLabel(
      name.substr(first + 2, second - first - 2), "protocol label"));
  return ValidateHostName(name.substr(second + 1), "service host name");
}

Result<void> ValidateDnsRecord(const DnsRecord& record) {
  const std::string& name = record.name;
  ZL_RETURN_IF_ERROR(ValidateDnsName(name));
  if (record.is_service()) {
    ZL_RETURN_IF_ERROR(ValidateHostName(record.target, "SRV target"));
    if (record.port == 0) {
      return MakeError(EINVAL, "service " + Quote(name) + " needs a port");
    }
    if (record.address) {
      return MakeError(
          EINVAL, "service " + Quote(name) + " is an SRV record: no address");
    }
    return Ok();
  }
  if (!record.address || record.address->IsUnspecified()) {
    return MakeError(EINVAL, "DNS name " + Quote(name) + " needs an address");
  }
  if (!record.target.empty() || record.port != 0) {
    return MakeError(EINVAL, "DNS name " + Quote(name) +
                                 " is an address record: no SRV target or port "
                                 "(service names start with '_')");
  }
  return Ok();
}

const char* ChangeKindName(Change::Kind kind) {
  switch (kind) {
    case Change::Kind::kMemberUpsert:
      return "member_upsert";
    case Change::Kind::kMemberRemoved:
      return "member_removed";
    case Change::Kind::kNameUpsert:
      return "name_upsert";
    case Change::Kind::kNameRemoved:
      return "name_removed";
  }
  return "unknown";
}

}  // namespace zl::overlay
