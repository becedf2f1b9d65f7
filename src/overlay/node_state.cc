#include "overlay/node_state.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "overlay/model_json.h"
#include "overlay/state_files.h"

namespace zl::overlay {
namespace {

constexpr int kNodeStateVersion = 1;

Result<crypto::PublicKey> KeyFromJson(const nlohmann::json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_string()) {
    return MakeError(EINVAL, std::string("missing \"") + field + "\"");
  }
  const std::string& text = j[field].get_ref<const std::string&>();
  crypto::PublicKey key;
  if (text.size() != 44 || !Base64Decode(text, MutableByteSpan(key.data(), key.size()))) {
    return MakeError(EINVAL, std::string("\"") + field + "\" is not a public key");
  }
  return key;
}

}  // namespace

const char* RoleName(NodeState::Role role) {
  return role == NodeState::Role::kControl ? "control" : "member";
}

std::string SerializeNodeState(const NodeState& s) {
  nlohmann::json j;
  j["version"] = kNodeStateVersion;
  j["role"] = RoleName(s.role);
  j["params"] = ToJson(s.params);
  j["self"] = ToJson(s.self);
  j["control_public_key"] = s.control_public_key.ToBase64();
  nlohmann::json endpoints = nlohmann::json::array();
  for (const Endpoint& e : s.control_endpoints) endpoints.push_back(e.ToString());
  j["control_endpoints"] = endpoints;
  j["control_address"] = s.control_address.ToString();
  j["revision"] = s.revision;
  nlohmann::json members = nlohmann::json::array();
  for (const Member& m : s.members) members.push_back(ToJson(m));
  j["members"] = members;
  nlohmann::json names = nlohmann::json::array();
  for (const DnsRecord& r : s.names) names.push_back(ToJson(r));
  j["names"] = names;
  return j.dump(2) + "\n";
}

Result<NodeState> ParseNodeState(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return MakeError(EINVAL, "not a JSON object");
  if (!j.contains("version") || !j["version"].is_number_integer() ||
      j["version"].get<int>() != kNodeStateVersion) {
    return MakeError(EINVAL, "unknown version (this build reads version 1)");
  }
  NodeState s;
  if (!j.contains("role") || !j["role"].is_string()) return MakeError(EINVAL, "missing \"role\"");
  const std::string role = j["role"].get<std::string>();
  if (role == "control") {
    s.role = NodeState::Role::kControl;
  } else if (role == "member") {
    s.role = NodeState::Role::kMember;
  } else {
    return MakeError(EINVAL, "unknown role \"" + role + "\"");
  }
  if (!j.contains("params")) return MakeError(EINVAL, "missing \"params\"");
  auto params = ParamsFromJson(j["params"]);
  if (!params.ok()) return params.error().Wrap("params");
  s.params = *params;
  if (!j.contains("self")) return MakeError(EINVAL, "missing \"self\"");
  auto self = MemberFromJson(j["self"]);
  if (!self.ok()) return self.error().Wrap("self");
  s.self = *self;
  auto control_key = KeyFromJson(j, "control_public_key");
  if (!control_key.ok()) return control_key.error();
  s.control_public_key = *control_key;
  if (!j.contains("control_endpoints") || !j["control_endpoints"].is_array()) {
    return MakeError(EINVAL, "missing \"control_endpoints\"");
  }
  for (const auto& e : j["control_endpoints"]) {
    if (!e.is_string()) return MakeError(EINVAL, "bad control endpoint");
    auto ep = Endpoint::Parse(e.get<std::string>());
    if (!ep.ok()) return ep.error().Wrap("control endpoint");
    s.control_endpoints.push_back(*ep);
  }
  if (!j.contains("control_address") || !j["control_address"].is_string()) {
    return MakeError(EINVAL, "missing \"control_address\"");
  }
  auto address = IpAddress::Parse(j["control_address"].get<std::string>());
  if (!address.ok()) return address.error().Wrap("control_address");
  s.control_address = *address;
  if (!j.contains("revision") || !j["revision"].is_number_unsigned()) {
    return MakeError(EINVAL, "missing \"revision\"");
  }
  s.revision = j["revision"].get<uint64_t>();
  if (!j.contains("members") || !j["members"].is_array()) return MakeError(EINVAL, "missing \"members\"");
  for (const auto& m : j["members"]) {
    auto member = MemberFromJson(m);
    if (!member.ok()) return member.error().Wrap("members");
    s.members.push_back(*member);
  }
  if (!j.contains("names") || !j["names"].is_array()) return MakeError(EINVAL, "missing \"names\"");
  for (const auto& r : j["names"]) {
    auto record = DnsRecordFromJson(r);
    if (!record.ok()) return record.error().Wrap("names");
    s.names.push_back(*record);
  }
  return s;
}

Result<std::optional<NodeState>> LoadNodeState(const std::string& dir) {
  const std::string path = NodeStatePath(dir);
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (text.error().code() == ENOENT) return std::optional<NodeState>();
    return text.error();
  }
  auto state = ParseNodeState(*text);
  if (!state.ok()) return state.error().Wrap(path);
  return std::optional<NodeState>(std::move(*state));
}

Result<void> SaveNodeState(const std::string& dir, const NodeState& state) {
  return WriteFileAtomic(NodeStatePath(dir), SerializeNodeState(state));
}

Result<void> RemoveNodeState(const std::string& dir) {
  const std::string path = NodeStatePath(dir);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("remove " + path);
  return Ok();
}

}  // namespace zl::overlay
