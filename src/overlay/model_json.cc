#include "overlay/model_json.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "overlay/ipam.h"

namespace zl::overlay {
namespace {

using nlohmann::json;

// Longer than any address, CIDR or endpoint in text ("[v6]:port" is at most
// 53 characters); checked first so garbage is not echoed into a message.
constexpr size_t kMaxAddressText = 64;

const char* FamilyName(IpAddress::Family family) {
  return family == IpAddress::Family::kV4 ? "IPv4" : "IPv6";
}

// Reads the fields of one JSON object. Each getter returns a default value
// once something is wrong and keeps the first error, so a parser reads all
// its fields and checks ok() once.
class Fields {
 public:
  Fields(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j.is_object()) {
      error_ = MakeError(EINVAL, path_ + ": expected a JSON object");
    }
  }

  bool ok() const { return !error_.has_value(); }
  const Error& error() const { return *error_; }
  std::string Path(std::string_view key) const {
    return path_ + "." + std::string(key);
  }

  void Fail(std::string_view key, const std::string& message) {
    if (!error_) error_ = MakeError(EINVAL, Path(key) + ": " + message);
  }
  // Records `r`'s error, if any, under `key`.
  void Check(std::string_view key, const Result<void>& r) {
    if (!r.ok()) Fail(key, r.error().message());
  }

  // The value of `key`, or null when it is missing or null (Fail()s then if
  // `required`) or when an error is already recorded.
  const json* Find(std::string_view key, bool required) {
    if (error_) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) Fail(key, "missing");
      return nullptr;
    }
    return &*it;
  }

  std::optional<std::string> OptionalString(std::string_view key,
                                            bool required = false) {
    const json* v = Find(key, required);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
      Fail(key, "expected a string");
      return std::nullopt;
    }
    return v->get_ref<const std::string&>();
  }
  // A string short enough to be an address, CIDR or endpoint.
  std::optional<std::string> OptionalAddressText(std::string_view key,
                                                 bool required) {
    auto text = OptionalString(key, required);
    if (text && text->size() > kMaxAddressText) {
      Fail(key, "too long for an address");
      return std::nullopt;
    }
    return text;
  }
  std::string String(std::string_view key) {
    return OptionalString(key, /*required=*/true).value_or("");
  }

  std::optional<uint64_t> OptionalUint(std::string_view key, uint64_t max,
                                       bool required = false) {
    const json* v = Find(key, required);
    if (!v) return std::nullopt;
    // Values we write are unsigned; a json built in code from an int is
    // number_integer. Floats, even 1.0, are not integers here.
    uint64_t n = 0;
    if (v->is_number_unsigned()) {
      n = v->get<uint64_t>();
    } else if (v->is_number_integer() && v->get<int64_t>() >= 0) {
      n = uint64_t(v->get<int64_t>());
    } else {
      Fail(key, "expected an integer from 0 to " + std::to_string(max));
      return std::nullopt;
    }
    if (n > max) {
      Fail(key, std::to_string(n) + " is out of range (0.." +
                    std::to_string(max) + ")");
      return std::nullopt;
    }
    return n;
  }
  uint64_t Uint(std::string_view key,
                uint64_t max = std::numeric_limits<uint64_t>::max()) {
    return OptionalUint(key, max, /*required=*/true).value_or(0);
  }
  // Unix seconds, never negative.
  int64_t Time(std::string_view key) {
    return int64_t(Uint(key, uint64_t(std::numeric_limits<int64_t>::max())));
  }
  uint16_t Port(std::string_view key) {
    uint64_t port = Uint(key, 65535);
    if (ok() && port == 0) Fail(key, "port 0 is not a port");
    return uint16_t(port);
  }

  bool Bool(std::string_view key) {
    const json* v = Find(key, /*required=*/true);
    if (!v) return false;
    if (!v->is_boolean()) {
      Fail(key, "expected true or false");
      return false;
    }
    return v->get<bool>();
  }

  crypto::PublicKey Key(std::string_view key) {
    crypto::PublicKey out;
    auto text = OptionalString(key, /*required=*/true);
    if (!text) return out;
    if (!Base64Decode(*text, MutableByteSpan(out.data(), out.size()))) {
      Fail(key, "expected a key in base64 (44 characters, as wg(8) prints it)");
    } else if (out.IsZero()) {
      Fail(key, "the key is all zero");
    }
    return out;
  }

  std::optional<Cidr> OptionalCidr(std::string_view key,
                                   IpAddress::Family family,
                                   bool required = false) {
    auto text = OptionalAddressText(key, required);
    if (!text) return std::nullopt;
    auto cidr = Cidr::Parse(*text);
    if (!cidr.ok()) {
      Fail(key, cidr.error().message());
      return std::nullopt;
    }
    if (cidr->address().family() != family) {
      Fail(key, *text + " is not an " + FamilyName(family) + " CIDR");
      return std::nullopt;
    }
    if (cidr->Masked() != *cidr) {
      Fail(key, *text + " has host bits set (did you mean " +
                    cidr->Masked().ToString() + "?)");
      return std::nullopt;
    }
    return cidr.value();
  }
  Cidr CidrField(std::string_view key, IpAddress::Family family) {
    return OptionalCidr(key, family, /*required=*/true).value_or(Cidr());
  }

  std::optional<IpAddress> OptionalAddress(std::string_view key) {
    auto text = OptionalAddressText(key, /*required=*/false);
    if (!text) return std::nullopt;
    auto address = IpAddress::Parse(*text);
    if (!address.ok()) {
      Fail(key, address.error().message());
      return std::nullopt;
    }
    return address.value();
  }

  std::optional<Endpoint> OptionalEndpoint(std::string_view key) {
    auto text = OptionalAddressText(key, /*required=*/false);
    if (!text) return std::nullopt;
    auto endpoint = Endpoint::Parse(*text);
    if (!endpoint.ok()) {
      Fail(key, endpoint.error().message());
      return std::nullopt;
    }
    if (endpoint->port() == 0 || endpoint->address().IsUnspecified()) {
      Fail(key, *text + " is not a reachable endpoint");
      return std::nullopt;
    }
    return endpoint.value();
  }

  // An array; null (after Fail) when missing or of another type.
  const json* Array(std::string_view key) {
    const json* v = Find(key, /*required=*/true);
    if (v && !v->is_array()) {
      Fail(key, "expected an array");
      return nullptr;
    }
    return v;
  }

 private:
  const json& j_;
  std::string path_;
  std::optional<Error> error_;
};

// --- readers, each taking the path of the value for its messages ---

Result<OverlayParams> ReadParams(const json& j, const std::string& path) {
  Fields f(j, path);
  OverlayParams p;
  p.cidr4 = f.CidrField("cidr4", IpAddress::Family::kV4);
  p.cidr6 = f.OptionalCidr("cidr6", IpAddress::Family::kV6);
  p.node_prefix4 = uint8_t(f.Uint("node_prefix4", 32));
  p.node_prefix6 = uint8_t(f.Uint("node_prefix6", 128));
  p.dns_zone = f.String("dns_zone");
  p.api_port = f.Port("api_port");
  p.dns_port = f.Port("dns_port");
  p.probe_port = f.Port("probe_port");
  if (f.ok()) {
    auto valid = ValidateParams(p);
    if (!valid.ok()) {
      return MakeError(EINVAL, path + ": " + valid.error().message());
    }
  }
  if (!f.ok()) return f.error();
  return p;
}

Result<Member> ReadMember(const json& j, const std::string& path) {
  Fields f(j, path);
  Member m;
  m.name = f.String("name");
  f.Check("name", ValidateNodeName(m.name));
  m.public_key = f.Key("public_key");
  m.subnet4 = f.CidrField("subnet4", IpAddress::Family::kV4);
  m.subnet6 = f.OptionalCidr("subnet6", IpAddress::Family::kV6);
  m.endpoint = f.OptionalEndpoint("endpoint");
  m.control = f.Bool("control");
  m.joined_at = f.Time("joined_at");
  m.revision = f.Uint("revision");
  if (!f.ok()) return f.error();
  return m;
}

Result<TokenRecord::State> TokenStateFromName(std::string_view name) {
  for (auto state : {TokenRecord::State::kPending, TokenRecord::State::kUsed,
                     TokenRecord::State::kRevoked}) {
    if (name == TokenStateName(state)) return state;
  }
  return MakeError(EINVAL, "unknown token state (pending, used or revoked)");
}

Result<TokenRecord> ReadToken(const json& j, const std::string& path) {
  Fields f(j, path);
  TokenRecord t;
  t.id = f.String("id");
  f.Check("id", ValidateTokenId(t.id));
  t.node_name = f.OptionalString("node_name").value_or("");
  if (!t.node_name.empty()) f.Check("node_name", ValidateNodeName(t.node_name));
  t.onetime_public_key = f.Key("onetime_public_key");
  t.subnet4 = f.CidrField("subnet4", IpAddress::Family::kV4);
  t.subnet6 = f.OptionalCidr("subnet6", IpAddress::Family::kV6);
  t.created_at = f.Time("created_at");
  t.expires_at = f.Time("expires_at");
  std::string state = f.String("state");
  if (f.ok()) {
    auto s = TokenStateFromName(state);
    if (s.ok()) {
      t.state = *s;
    } else {
      f.Fail("state", s.error().message());
    }
  }
  t.used_by = f.OptionalString("used_by").value_or("");
  if (f.ok() && t.state == TokenRecord::State::kUsed) {
    f.Check("used_by", ValidateNodeName(t.used_by));
  } else if (f.ok() && !t.used_by.empty()) {
    f.Fail("used_by", "set, but the token is not used");
  }
  if (f.ok() && t.expires_at < t.created_at) {
    f.Fail("expires_at", "before created_at");
  }
  if (!f.ok()) return f.error();
  return t;
}

Result<DnsRecord> ReadDnsRecord(const json& j, const std::string& path) {
  Fields f(j, path);
  DnsRecord r;
  r.name = f.String("name");
  r.address = f.OptionalAddress("address");
  r.target = f.OptionalString("target").value_or("");
  r.port = uint16_t(f.OptionalUint("port", 65535).value_or(0));
  r.revision = f.Uint("revision");
  if (!f.ok()) return f.error();
  auto valid = ValidateDnsRecord(r);
  if (!valid.ok()) {
    return MakeError(EINVAL, path + ": " + valid.error().message());
  }
  return r;
}

Result<Change::Kind> ChangeKindFromName(std::string_view name) {
  for (auto kind : {Change::Kind::kMemberUpsert, Change::Kind::kMemberRemoved,
                    Change::Kind::kNameUpsert, Change::Kind::kNameRemoved}) {
    if (name == ChangeKindName(kind)) return kind;
  }
  return MakeError(
      EINVAL,
      "unknown change kind (member_upsert, member_removed, name_upsert or "
      "name_removed)");
}

// A change's upsert payload `key` (`value`, null when absent): required when
// `wanted` (the change's kind is its upsert), refused otherwise, and named
// like the change.
template <typename T, typename ReadFn>
Result<std::optional<T>> ReadPayload(Fields& f, const json* value,
                                     const char* key, bool wanted,
                                     const std::string& name, ReadFn read) {
  const char* kind =
      std::string_view(key) == "member" ? "member_upsert" : "name_upsert";
  if (!wanted) {
    if (value) return MakeError(EINVAL, f.Path(key) + ": only for " + kind);
    return std::optional<T>();
  }
  if (!value) {
    return MakeError(EINVAL, f.Path(key) + ": missing (" + kind + ")");
  }
  auto payload = read(*value, f.Path(key));
  if (!payload.ok()) return payload.error();
  if (payload->name != name) {
    return MakeError(EINVAL, f.Path(key) + ": name differs from the change's");
  }
  return std::optional<T>(std::move(payload.value()));
}

Result<Change> ReadChange(const json& j, const std::string& path) {
  Fields f(j, path);
  Change c;
  c.revision = f.Uint("revision");
  if (f.ok() && c.revision == 0) f.Fail("revision", "must be at least 1");
  std::string kind = f.String("kind");
  if (f.ok()) {
    auto k = ChangeKindFromName(kind);
    if (k.ok()) {
      c.kind = *k;
    } else {
      f.Fail("kind", k.error().message());
    }
  }
  c.name = f.String("name");
  const bool member_kind = c.kind == Change::Kind::kMemberUpsert ||
                           c.kind == Change::Kind::kMemberRemoved;
  if (f.ok()) {
    f.Check("name",
            member_kind ? ValidateNodeName(c.name) : ValidateDnsName(c.name));
  }
  const json* member = f.Find("member", false);
  const json* record = f.Find("record", false);
  if (!f.ok()) return f.error();

  auto m = ReadPayload<Member>(f, member, "member",
                               c.kind == Change::Kind::kMemberUpsert, c.name,
                               ReadMember);
  if (!m.ok()) return m.error();
  c.member = std::move(m.value());
  auto r = ReadPayload<DnsRecord>(f, record, "record",
                                  c.kind == Change::Kind::kNameUpsert, c.name,
                                  ReadDnsRecord);
  if (!r.ok()) return r.error();
  c.record = std::move(r.value());
  return c;
}

// Reads every element of the array `key` of `f` with `read`.
template <typename T, typename ReadFn>
Result<std::vector<T>> ReadArray(Fields& f, std::string_view key, ReadFn read) {
  const json* array = f.Array(key);
  if (!f.ok()) return f.error();
  std::vector<T> out;
  out.reserve(array->size());
  for (size_t i = 0; i < array->size(); ++i) {
    auto item = read((*array)[i], f.Path(key) + "[" + std::to_string(i) + "]");
    if (!item.ok()) return item.error();
    out.push_back(std::move(item.value()));
  }
  return out;
}

Result<Delta> ReadDelta(const json& j, const std::string& path) {
  Fields f(j, path);
  Delta d;
  d.revision = f.Uint("revision");
  d.full_resync = f.Bool("full_resync");
  auto changes = ReadArray<Change>(f, "changes", ReadChange);
  if (!changes.ok()) return changes.error();
  d.changes = std::move(changes.value());
  if (d.full_resync && !d.changes.empty()) {
    return MakeError(EINVAL,
                     f.Path("changes") + ": must be empty with full_resync");
  }
  for (size_t i = 0; i < d.changes.size(); ++i) {
    const std::string at = f.Path("changes") + "[" + std::to_string(i) + "]";
    if (i > 0 && d.changes[i].revision <= d.changes[i - 1].revision) {
      return MakeError(EINVAL, at + ": revisions must be strictly ascending");
    }
    if (d.changes[i].revision > d.revision) {
      return MakeError(EINVAL, at + ": revision past the delta's");
    }
  }
  return d;
}

// The snapshot's members against its parameters and each other.
Result<void> CheckSnapshotMembers(const StoreSnapshot& s,
                                  const std::string& path) {
  std::set<crypto::PublicKey> keys;
  std::set<Cidr> subnets;
  size_t controls = 0;
  for (size_t i = 0; i < s.members.size(); ++i) {
    const Member& m = s.members[i];
    const std::string at = path + ".members[" + std::to_string(i) + "]";
    if (i > 0 && m.name <= s.members[i - 1].name) {
      return MakeError(EINVAL,
                       at + ": members must be strictly ascending by name");
    }
    if (!keys.insert(m.public_key).second) {
      return MakeError(EINVAL, at + ": public key already another member's");
    }
    auto index4 = SubnetIndex(s.params.cidr4, s.params.node_prefix4, m.subnet4);
    if (!index4.ok()) return index4.error().Wrap(at + ".subnet4");
    if (m.subnet6.has_value() != s.params.cidr6.has_value()) {
      return MakeError(EINVAL,
                       at + ".subnet6: " +
                           (m.subnet6 ? "set, but the overlay has no IPv6"
                                      : "missing, but the overlay has IPv6"));
    }
    if (m.subnet6) {
      auto index6 =
          SubnetIndex(*s.params.cidr6, s.params.node_prefix6, *m.subnet6);
      if (!index6.ok()) return index6.error().Wrap(at + ".subnet6");
      if (!subnets.insert(*m.subnet6).second) {
        return MakeError(EINVAL, at + ".subnet6: already another member's");
      }
    }
    if (!subnets.insert(m.subnet4).second) {
      return MakeError(EINVAL, at + ".subnet4: already another member's");
    }
    if (m.control && ++controls > 1) {
      return MakeError(EINVAL, at + ": a second control member");
    }
    if (m.revision > s.revision) {
      return MakeError(EINVAL, at + ".revision: past the snapshot's");
    }
  }
  return Ok();
}

Result<void> CheckSnapshotNames(const StoreSnapshot& s,
                                const std::string& path) {
  std::set<std::string_view> member_names;
  for (const Member& m : s.members) member_names.insert(m.name);
  for (size_t i = 0; i < s.names.size(); ++i) {
    const DnsRecord& r = s.names[i];
    const std::string at = path + ".names[" + std::to_string(i) + "]";
    if (i > 0 && r.name <= s.names[i - 1].name) {
      return MakeError(EINVAL, at + ": names must be strictly ascending");
    }
    if (member_names.count(r.name)) {
      return MakeError(EINVAL, at + ": '" + r.name + "' is a member's name");
    }
    if (r.revision > s.revision) {
      return MakeError(EINVAL, at + ".revision: past the snapshot's");
    }
  }
  return Ok();
}

Result<StoreSnapshot> ReadSnapshot(const json& j, const std::string& path) {
  Fields f(j, path);
  StoreSnapshot s;
  s.revision = f.Uint("revision");
  const json* params = f.Find("params", /*required=*/true);
  if (!f.ok()) return f.error();
  auto p = ReadParams(*params, f.Path("params"));
  if (!p.ok()) return p.error();
  s.params = std::move(p.value());
  auto members = ReadArray<Member>(f, "members", ReadMember);
  if (!members.ok()) return members.error();
  s.members = std::move(members.value());
  auto names = ReadArray<DnsRecord>(f, "names", ReadDnsRecord);
  if (!names.ok()) return names.error();
  s.names = std::move(names.value());
  ZL_RETURN_IF_ERROR(CheckSnapshotMembers(s, path));
  ZL_RETURN_IF_ERROR(CheckSnapshotNames(s, path));
  return s;
}

constexpr size_t kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in JSON text (brackets inside
// strings do not count). Malformed text gets some number; the parser then
// refuses it.
size_t JsonDepth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// The public readers: nlohmann::json accessors are only used after a type
// check, but whatever the library might still throw becomes an EINVAL here.
template <typename T, typename ReadFn>
Result<T> Guarded(const json& j, const char* what, ReadFn read) {
  try {
    return read(j, std::string(what));
  } catch (const std::exception& e) {
    return MakeError(EINVAL, std::string(what) + ": " + e.what());
  }
}

}  // namespace

nlohmann::json ToJson(const OverlayParams& params) {
  json j = {
      {"cidr4", params.cidr4.ToString()},
      {"node_prefix4", params.node_prefix4},
      {"node_prefix6", params.node_prefix6},
      {"dns_zone", params.dns_zone},
      {"api_port", params.api_port},
      {"dns_port", params.dns_port},
      {"probe_port", params.probe_port},
  };
  if (params.cidr6) j["cidr6"] = params.cidr6->ToString();
  return j;
}

nlohmann::json ToJson(const Member& member) {
  json j = {
      {"name", member.name},
      {"public_key", member.public_key.ToBase64()},
      {"subnet4", member.subnet4.ToString()},
      {"control", member.control},
      {"joined_at", member.joined_at},
      {"revision", member.revision},
  };
  if (member.subnet6) j["subnet6"] = member.subnet6->ToString();
  if (member.endpoint) j["endpoint"] = member.endpoint->ToString();
  return j;
}

nlohmann::json ToJson(const TokenRecord& token) {
  json j = {
      {"id", token.id},
      {"onetime_public_key", token.onetime_public_key.ToBase64()},
      {"subnet4", token.subnet4.ToString()},
      {"created_at", token.created_at},
      {"expires_at", token.expires_at},
      {"state", TokenStateName(token.state)},
  };
  if (!token.node_name.empty()) j["node_name"] = token.node_name;
  if (token.subnet6) j["subnet6"] = token.subnet6->ToString();
  if (!token.used_by.empty()) j["used_by"] = token.used_by;
  return j;
}

nlohmann::json ToJson(const DnsRecord& record) {
  json j = {{"name", record.name}, {"revision", record.revision}};
  if (record.address) j["address"] = record.address->ToString();
  if (!record.target.empty()) j["target"] = record.target;
  if (record.port != 0) j["port"] = record.port;
  return j;
}

nlohmann::json ToJson(const Change& change) {
  json j = {
      {"revision", change.revision},
      {"kind", ChangeKindName(change.kind)},
      {"name", change.name},
  };
  if (change.member) j["member"] = ToJson(*change.member);
  if (change.record) j["record"] = ToJson(*change.record);
  return j;
}

nlohmann::json ToJson(const Delta& delta) {
  json changes = json::array();
  for (const Change& c : delta.changes) changes.push_back(ToJson(c));
  return {{"revision", delta.revision},
          {"full_resync", delta.full_resync},
          {"changes", std::move(changes)}};
}

nlohmann::json ToJson(const StoreSnapshot& snapshot) {
  json members = json::array();
  for (const Member& m : snapshot.members) members.push_back(ToJson(m));
  json names = json::array();
  for (const DnsRecord& r : snapshot.names) names.push_back(ToJson(r));
  return {{"revision", snapshot.revision},
          {"params", ToJson(snapshot.params)},
          {"members", std::move(members)},
          {"names", std::move(names)}};
}

Result<OverlayParams> ParamsFromJson(const nlohmann::json& json) {
  return Guarded<OverlayParams>(json, "params", ReadParams);
}
Result<Member> MemberFromJson(const nlohmann::json& json) {
  return Guarded<Member>(json, "member", ReadMember);
}
Result<TokenRecord> TokenRecordFromJson(const nlohmann::json& json) {
  return Guarded<TokenRecord>(json, "token", ReadToken);
}
Result<DnsRecord> DnsRecordFromJson(const nlohmann::json& json) {
  return Guarded<DnsRecord>(json, "record", ReadDnsRecord);
}
Result<Change> ChangeFromJson(const nlohmann::json& json) {
  return Guarded<Change>(json, "change", ReadChange);
}
Result<Delta> DeltaFromJson(const nlohmann::json& json) {
  return Guarded<Delta>(json, "delta", ReadDelta);
}
Result<StoreSnapshot> SnapshotFromJson(const nlohmann::json& json) {
  return Guarded<StoreSnapshot>(json, "snapshot", ReadSnapshot);
}

Result<nlohmann::json> ParseJson(std::string_view text) {
  // The parser itself is iterative, but comparing or dumping a value
  // recurses; nothing on the wire nests deeper than a few levels.
  if (JsonDepth(text) > kMaxJsonDepth) {
    return MakeError(EINVAL, "invalid JSON: nested deeper than " +
                                 std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return MakeError(EINVAL, std::string("invalid JSON: ") + e.what());
  }
}

std::string DumpJson(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace zl::overlay
