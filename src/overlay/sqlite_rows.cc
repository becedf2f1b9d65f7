#include "overlay/sqlite_rows.h"

#include "overlay/ipam.h"
#include "overlay/model_json.h"

namespace zl::overlay {
namespace {

Result<TokenRecord::State> StateFromText(const std::string& text) {
  for (auto s : {TokenRecord::State::kPending, TokenRecord::State::kUsed,
                 TokenRecord::State::kRevoked}) {
    if (text == TokenStateName(s)) return s;
  }
  return Inconsistent("token state '" + text + "'");
}

Result<crypto::PublicKey> KeyFromColumn(const SqliteStatement& row, int column,
                                        const std::string& owner) {
  const std::vector<uint8_t> key = row.Blob(column);
  if (key.size() != crypto::kKeyLen) return Inconsistent(owner + ": key");
  return crypto::PublicKey(key);
}

// The subnet with index in `column` of `pool`, or an error naming `owner`.
Result<Cidr> SubnetFromColumn(const SqliteStatement& row, int column,
                              const Cidr& pool, uint8_t prefix,
                              const std::string& owner) {
  if (row.IsNull(column)) {
    return Inconsistent(owner + " has no " +
                        (pool.address().is_v4() ? "IPv4" : "IPv6") + " subnet");
  }
  auto subnet = NthSubnet(pool, prefix, uint64_t(row.Int(column)));
  if (!subnet.ok()) {
    return Inconsistent(owner + ": " + subnet.error().message());
  }
  return subnet;
}

Result<Cidr> CidrFromText(const std::string& text, const std::string& owner) {
  auto cidr = Cidr::Parse(text);
  if (!cidr.ok()) return Inconsistent(owner + ": " + cidr.error().message());
  return cidr;
}

}  // namespace

Error Inconsistent(const std::string& what) {
  return MakeError(EIO, "store inconsistent: " + what);
}

Error NotInitialized() {
  return MakeError(
      ENOENT, "the overlay is not initialised (run init on the control node)");
}

const char kSelectMembers[] =
    "SELECT m.name, m.public_key, m.endpoint, m.control, m.joined_at, "
    "m.revision, "
    "(SELECT idx FROM subnets WHERE member = m.name AND family = 4), "
    "(SELECT idx FROM subnets WHERE member = m.name AND family = 6) "
    "FROM members m ";

Result<Member> MemberFromRow(const SqliteStatement& row,
                             const OverlayParams& params) {
  Member m;
  m.name = row.Text(0);
  const std::string owner = "member " + m.name;
  auto key = KeyFromColumn(row, 1, owner);
  if (!key.ok()) return key.error();
  m.public_key = *key;
  if (auto endpoint = row.OptionalText(2)) {
    auto e = Endpoint::Parse(*endpoint);
    if (!e.ok()) return Inconsistent(owner + ": " + e.error().message());
    m.endpoint = *e;
  }
  m.control = row.Int(3) != 0;
  m.joined_at = row.Int(4);
  m.revision = uint64_t(row.Int(5));
  auto subnet4 =
      SubnetFromColumn(row, 6, params.cidr4, params.node_prefix4, owner);
  if (!subnet4.ok()) return subnet4.error();
  m.subnet4 = *subnet4;
  if (params.cidr6) {
    auto subnet6 =
        SubnetFromColumn(row, 7, *params.cidr6, params.node_prefix6, owner);
    if (!subnet6.ok()) return subnet6.error();
    m.subnet6 = *subnet6;
  } else if (!row.IsNull(7)) {
    return Inconsistent(owner +
                        " has an IPv6 subnet, but the overlay has no IPv6");
  }
  return m;
}

const char kSelectTokens[] =
    "SELECT id, node_name, onetime_key, subnet4, subnet6, created_at, "
    "expires_at, state, used_by FROM tokens ";

Result<TokenRecord> TokenFromRow(const SqliteStatement& row) {
  TokenRecord t;
  t.id = row.Text(0);
  const std::string owner = "token " + t.id;
  t.node_name = row.Text(1);
  auto key = KeyFromColumn(row, 2, owner);
  if (!key.ok()) return key.error();
  t.onetime_public_key = *key;
  auto subnet4 = CidrFromText(row.Text(3), owner);
  if (!subnet4.ok()) return subnet4.error();
  t.subnet4 = *subnet4;
  if (auto text = row.OptionalText(4)) {
    auto subnet6 = CidrFromText(*text, owner);
    if (!subnet6.ok()) return subnet6.error();
    t.subnet6 = *subnet6;
  }
  t.created_at = row.Int(5);
  t.expires_at = row.Int(6);
  auto state = StateFromText(row.Text(7));
  if (!state.ok()) return state.error();
  t.state = *state;
  t.used_by = row.Text(8);
  return t;
}

const char kSelectNames[] =
    "SELECT name, address, target, port, revision FROM names ";

Result<DnsRecord> NameFromRow(const SqliteStatement& row) {
  DnsRecord r;
  r.name = row.Text(0);
  if (auto address = row.OptionalText(1)) {
    auto a = IpAddress::Parse(*address);
    if (!a.ok()) {
      return Inconsistent("name " + r.name + ": " + a.error().message());
    }
    r.address = *a;
  }
  r.target = row.Text(2);
  r.port = uint16_t(row.Int(3));
  r.revision = uint64_t(row.Int(4));
  return r;
}

Result<OverlayParams> ReadParams(SqliteDb& db) {
  auto stmt =
      SqliteStatement::Prepare(db, "SELECT params FROM meta WHERE id = 1");
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotInitialized();
  auto json = ParseJson(stmt->Text(0));
  if (!json.ok()) return Inconsistent("params: " + json.error().message());
  auto params = ParamsFromJson(*json);
  if (!params.ok()) return Inconsistent(params.error().message());
  return params;
}

}  // namespace zl::overlay
