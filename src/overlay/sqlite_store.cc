#include "overlay/sqlite_store.h"

#include <set>
#include <utility>

#include "base/mutex.h"
#include "overlay/ipam.h"
#include "overlay/model_json.h"
#include "overlay/sqlite_db.h"
#include "overlay/sqlite_schema.h"

namespace zl::overlay {
namespace {

using Mode = SqliteTransaction::Mode;

Error NotInitialized() {
  return MakeError(ENOENT, "the overlay is not initialised (run init on the control node)");
}

// A stored value that does not decode: the database is inconsistent.
Error Inconsistent(const std::string& what) { return MakeError(EIO, "store inconsistent: " + what); }

int FamilyNumber(IpAddress::Family family) { return family == IpAddress::Family::kV4 ? 4 : 6; }

std::optional<std::string> EndpointText(const std::optional<Endpoint>& e) {
  if (!e) return std::nullopt;
  return e->ToString();
}

Result<void> ValidateEndpoint(const std::optional<Endpoint>& e) {
  if (e && (e->port() == 0 || e->address().IsUnspecified())) {
    return MakeError(EINVAL, "endpoint " + e->ToString() + " is not reachable");
  }
  return Ok();
}

Result<void> ValidateKey(const crypto::PublicKey& key, const char* what) {
  if (key.IsZero()) return MakeError(EINVAL, std::string(what) + " is all zero");
  return Ok();
}

// The state of a token as the schema spells it, and back.
Result<TokenRecord::State> StateFromText(const std::string& text) {
  for (auto s : {TokenRecord::State::kPending, TokenRecord::State::kUsed,
                 TokenRecord::State::kRevoked}) {
    if (text == TokenStateName(s)) return s;
  }
  return Inconsistent("token state '" + text + "'");
}

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteDb db, SqliteStoreOptions options)
      : db_(std::move(db)), options_(options) {}

  Result<Member> Initialize(const OverlayParams& params, const std::string& control_name,
                            const crypto::PublicKey& control_key,
                            std::optional<Endpoint> control_endpoint, int64_t now) override;
  Result<OverlayParams> Params() override;
  Result<TokenRecord> CreateToken(const std::string& id, const std::string& node_name,
                                  const crypto::PublicKey& onetime_key, int64_t now,
                                  int64_t expires_at) override;
  Result<std::vector<TokenRecord>> Tokens() override;
  Result<TokenRecord> FindToken(const std::string& id) override;
  Result<TokenRecord> RevokeToken(const std::string& id) override;
  Result<Member> RedeemToken(const std::string& id, const std::string& name,
                             const crypto::PublicKey& node_key, std::optional<Endpoint> endpoint,
                             int64_t now) override;
  Result<std::vector<Member>> Members() override;
  Result<Member> FindMember(const std::string& name) override;
  Result<Member> FindMemberByKey(const crypto::PublicKey& key) override;
  Result<Member> UpdateEndpoint(const std::string& name,
                                std::optional<Endpoint> endpoint) override;
  Result<Member> RemoveMember(const std::string& name) override;
  Result<DnsRecord> RegisterName(const DnsRecord& record) override;
  Result<void> UnregisterName(const std::string& name) override;
  Result<std::vector<DnsRecord>> Names() override;
  Result<uint64_t> Revision() override;
  Result<StoreSnapshot> Snapshot() override;
  Result<Delta> ChangesSince(uint64_t revision) override;
  Result<void> CheckConsistency() override;

 private:
  Result<SqliteStatement> Prepare(std::string_view sql) REQUIRES(mu_) {
    return SqliteStatement::Prepare(db_, sql);
  }
  // Runs one statement with no result rows.
  template <typename... Args>
  Result<void> Run(std::string_view sql, const Args&... args) REQUIRES(mu_);

  // Params, cached once read (they never change after Initialize).
  Result<OverlayParams> ParamsLocked() REQUIRES(mu_);
  Result<uint64_t> RevisionLocked() REQUIRES(mu_);
  // Bumps the revision and logs the change; returns the new revision.
  // `payload` is the member or record for upserts.
  Result<uint64_t> LogChangeLocked(Change::Kind kind, const std::string& name,
                                   const std::optional<nlohmann::json>& payload) REQUIRES(mu_);
  // Members matching `where` (an SQL condition on m, "" for all, with ?1...
  // bound to `args`), ordered by name.
  template <typename... Args>
  Result<std::vector<Member>> MembersWhereLocked(const char* where, const Args&... args)
      REQUIRES(mu_);
  Result<Member> MemberFromRow(const SqliteStatement& row) REQUIRES(mu_);
  Result<Member> FindMemberLocked(const std::string& name) REQUIRES(mu_);
  // Tokens matching `where`, newest first.
  template <typename... Args>
  Result<std::vector<TokenRecord>> TokensWhereLocked(const char* where, const Args&... args)
      REQUIRES(mu_);
  Result<TokenRecord> FindTokenLocked(const std::string& id) REQUIRES(mu_);
  Result<std::vector<DnsRecord>> NamesLocked() REQUIRES(mu_);
  // The lowest free subnet of a family's pool (ENOSPC when full).
  Result<uint64_t> FreeIndexLocked(const Cidr& pool, uint8_t prefix) REQUIRES(mu_);
  // Gives the subnets of expired pending tokens back to the pool.
  Result<void> ReleaseExpiredLocked(int64_t now) REQUIRES(mu_);
  // EEXIST when `name` is a member's, a registered DNS name or reserved by a
  // pending token other than `except_token`.
  Result<void> CheckNameFreeLocked(const std::string& name, const std::string& except_token)
      REQUIRES(mu_);
  Result<void> CheckConsistencyLocked() REQUIRES(mu_);

  Mutex mu_;
  SqliteDb db_ GUARDED_BY(mu_);
  const SqliteStoreOptions options_;
  std::optional<OverlayParams> params_ GUARDED_BY(mu_);
};

// --- binding helpers ---

void BindOne(SqliteStatement& s, int i, int64_t v) { s.Bind(i, v); }
void BindOne(SqliteStatement& s, int i, uint64_t v) { s.Bind(i, int64_t(v)); }
void BindOne(SqliteStatement& s, int i, int v) { s.Bind(i, int64_t(v)); }
void BindOne(SqliteStatement& s, int i, const std::string& v) { s.Bind(i, std::string_view(v)); }
void BindOne(SqliteStatement& s, int i, const char* v) { s.Bind(i, std::string_view(v)); }
void BindOne(SqliteStatement& s, int i, const std::optional<std::string>& v) { s.Bind(i, v); }
void BindOne(SqliteStatement& s, int i, const crypto::PublicKey& v) { s.Bind(i, v.span()); }

template <typename... Args>
void BindAll([[maybe_unused]] SqliteStatement& s, const Args&... args) {
  [[maybe_unused]] int i = 0;
  (BindOne(s, ++i, args), ...);
}

template <typename... Args>
Result<void> SqliteStore::Run(std::string_view sql, const Args&... args) {
  auto stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, args...);
  return stmt->Run();
}

// --- reading ---

Result<OverlayParams> SqliteStore::ParamsLocked() {
  if (params_) return *params_;
  auto stmt = Prepare("SELECT params FROM meta WHERE id = 1");
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotInitialized();
  auto json = ParseJson(stmt->Text(0));
  if (!json.ok()) return Inconsistent("params: " + json.error().message());
  auto params = ParamsFromJson(*json);
  if (!params.ok()) return Inconsistent(params.error().message());
  params_ = *params;
  return *params_;
}

Result<uint64_t> SqliteStore::RevisionLocked() {
  auto stmt = Prepare("SELECT revision FROM meta WHERE id = 1");
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotInitialized();
  return uint64_t(stmt->Int(0));
}

constexpr char kMemberColumns[] =
    "SELECT m.name, m.public_key, m.endpoint, m.control, m.joined_at, m.revision, "
    "(SELECT idx FROM subnets WHERE member = m.name AND family = 4), "
    "(SELECT idx FROM subnets WHERE member = m.name AND family = 6) FROM members m ";

Result<Member> SqliteStore::MemberFromRow(const SqliteStatement& row) {
  auto params = ParamsLocked();
  if (!params.ok()) return params.error();
  Member m;
  m.name = row.Text(0);
  const std::vector<uint8_t> key = row.Blob(1);
  if (key.size() != crypto::kKeyLen) return Inconsistent("member " + m.name + ": key");
  m.public_key = crypto::PublicKey(key);
  if (auto endpoint = row.OptionalText(2)) {
    auto e = Endpoint::Parse(*endpoint);
    if (!e.ok()) return Inconsistent("member " + m.name + ": " + e.error().message());
    m.endpoint = *e;
  }
  m.control = row.Int(3) != 0;
  m.joined_at = row.Int(4);
  m.revision = uint64_t(row.Int(5));
  if (row.IsNull(6)) return Inconsistent("member " + m.name + " has no IPv4 subnet");
  auto subnet4 = NthSubnet(params->cidr4, params->node_prefix4, uint64_t(row.Int(6)));
  if (!subnet4.ok()) return Inconsistent("member " + m.name + ": " + subnet4.error().message());
  m.subnet4 = *subnet4;
  if (params->cidr6) {
    if (row.IsNull(7)) return Inconsistent("member " + m.name + " has no IPv6 subnet");
    auto subnet6 = NthSubnet(*params->cidr6, params->node_prefix6, uint64_t(row.Int(7)));
    if (!subnet6.ok()) return Inconsistent("member " + m.name + ": " + subnet6.error().message());
    m.subnet6 = *subnet6;
  }
  return m;
}

template <typename... Args>
Result<std::vector<Member>> SqliteStore::MembersWhereLocked(const char* where,
                                                           const Args&... args) {
  auto stmt = Prepare(std::string(kMemberColumns) + where + " ORDER BY m.name");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, args...);
  std::vector<Member> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    auto m = MemberFromRow(*stmt);
    if (!m.ok()) return m.error();
    out.push_back(std::move(m.value()));
  }
}

Result<Member> SqliteStore::FindMemberLocked(const std::string& name) {
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  auto found = MembersWhereLocked("WHERE m.name = ?1", name);
  if (!found.ok()) return found.error();
  if (found->empty()) return MakeError(ENOENT, "no member named '" + name + "'");
  return std::move(found->front());
}

template <typename... Args>
Result<std::vector<TokenRecord>> SqliteStore::TokensWhereLocked(const char* where,
                                                                const Args&... args) {
  auto stmt = Prepare(
      std::string("SELECT id, node_name, onetime_key, subnet4, subnet6, created_at, expires_at, "
                  "state, used_by FROM tokens ") +
      where + " ORDER BY created_at DESC, rowid DESC");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, args...);
  std::vector<TokenRecord> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    TokenRecord t;
    t.id = stmt->Text(0);
    t.node_name = stmt->Text(1);
    const std::vector<uint8_t> key = stmt->Blob(2);
    if (key.size() != crypto::kKeyLen) return Inconsistent("token " + t.id + ": key");
    t.onetime_public_key = crypto::PublicKey(key);
    auto subnet4 = Cidr::Parse(stmt->Text(3));
    if (!subnet4.ok()) return Inconsistent("token " + t.id + ": " + subnet4.error().message());
    t.subnet4 = *subnet4;
    if (auto text = stmt->OptionalText(4)) {
      auto subnet6 = Cidr::Parse(*text);
      if (!subnet6.ok()) return Inconsistent("token " + t.id + ": " + subnet6.error().message());
      t.subnet6 = *subnet6;
    }
    t.created_at = stmt->Int(5);
    t.expires_at = stmt->Int(6);
    auto state = StateFromText(stmt->Text(7));
    if (!state.ok()) return state.error();
    t.state = *state;
    t.used_by = stmt->Text(8);
    out.push_back(std::move(t));
  }
}

Result<TokenRecord> SqliteStore::FindTokenLocked(const std::string& id) {
  auto found = TokensWhereLocked("WHERE id = ?1", id);
  if (!found.ok()) return found.error();
  if (found->empty()) return MakeError(ENOENT, "no token with id " + id);
  return std::move(found->front());
}

Result<std::vector<DnsRecord>> SqliteStore::NamesLocked() {
  auto stmt = Prepare("SELECT name, address, target, port, revision FROM names ORDER BY name");
  if (!stmt.ok()) return stmt.error();
  std::vector<DnsRecord> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    DnsRecord r;
    r.name = stmt->Text(0);
    if (auto address = stmt->OptionalText(1)) {
      auto a = IpAddress::Parse(*address);
      if (!a.ok()) return Inconsistent("name " + r.name + ": " + a.error().message());
      r.address = *a;
    }
    r.target = stmt->Text(2);
    r.port = uint16_t(stmt->Int(3));
    r.revision = uint64_t(stmt->Int(4));
    out.push_back(std::move(r));
  }
}

// --- writing ---

Result<uint64_t> SqliteStore::LogChangeLocked(Change::Kind kind, const std::string& name,
                                              const std::optional<nlohmann::json>& payload) {
  auto current = RevisionLocked();
  if (!current.ok()) return current.error();
  const uint64_t revision = *current + 1;
  ZL_RETURN_IF_ERROR(Run("UPDATE meta SET revision = ?1 WHERE id = 1", revision));
  std::optional<std::string> text;
  if (payload) text = DumpJson(*payload);
  ZL_RETURN_IF_ERROR(Run("INSERT INTO changes (revision, kind, name, payload) VALUES (?1, ?2, ?3, ?4)",
                         revision, ChangeKindName(kind), name, text));
  // Keep the last change_log_limit changes; older watchers resync in full.
  const uint64_t limit = std::max<uint64_t>(options_.change_log_limit, 1);
  if (revision > limit) {
    ZL_RETURN_IF_ERROR(Run("DELETE FROM changes WHERE revision <= ?1", revision - limit));
  }
  return revision;
}

Result<uint64_t> SqliteStore::FreeIndexLocked(const Cidr& pool, uint8_t prefix) {
  auto count = SubnetCount(pool, prefix);
  if (!count.ok()) return count.error();
  auto stmt = Prepare("SELECT idx FROM subnets WHERE family = ?1 ORDER BY idx");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, FamilyNumber(pool.address().family()));
  std::vector<uint64_t> used;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    used.push_back(uint64_t(stmt->Int(0)));
  }
  auto index = LowestFreeIndex(used, *count);
  if (!index.ok() && index.error().code() == ENOSPC) {
    return MakeError(ENOSPC, "the address pool " + pool.ToString() + " is full (" +
                                 std::to_string(*count) + " /" + std::to_string(prefix) +
                                 " subnets in use)");
  }
  return index;
}

Result<void> SqliteStore::ReleaseExpiredLocked(int64_t now) {
  ZL_RETURN_IF_ERROR(Run(
      "DELETE FROM subnets WHERE token IN "
      "(SELECT id FROM tokens WHERE holds_subnets = 1 AND expires_at <= ?1)",
      now));
  return Run("UPDATE tokens SET holds_subnets = 0 WHERE holds_subnets = 1 AND expires_at <= ?1",
             now);
}

Result<void> SqliteStore::CheckNameFreeLocked(const std::string& name,
                                              const std::string& except_token) {
  auto stmt = Prepare(
      "SELECT (SELECT count(*) FROM members WHERE name = ?1), "
      "(SELECT count(*) FROM names WHERE name = ?1), "
      "(SELECT count(*) FROM tokens WHERE node_name = ?1 AND holds_subnets = 1 AND id != ?2)");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, name, except_token);
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  if (stmt->Int(0) > 0) return MakeError(EEXIST, "the name '" + name + "' is already a member's");
  if (stmt->Int(1) > 0) {
    return MakeError(EEXIST, "the name '" + name + "' is a registered DNS name");
  }
  if (stmt->Int(2) > 0) {
    return MakeError(EEXIST, "the name '" + name + "' is reserved by a pending token");
  }
  return Ok();
}

Result<Member> SqliteStore::Initialize(const OverlayParams& params,
                                       const std::string& control_name,
                                       const crypto::PublicKey& control_key,
                                       std::optional<Endpoint> control_endpoint, int64_t now) {
  ZL_RETURN_IF_ERROR(ValidateParams(params));
  ZL_RETURN_IF_ERROR(ValidateNodeName(control_name));
  ZL_RETURN_IF_ERROR(ValidateKey(control_key, "the control node's public key"));
  ZL_RETURN_IF_ERROR(ValidateEndpoint(control_endpoint));
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  if (auto existing = RevisionLocked(); existing.ok()) {
    return MakeError(EEXIST, "the store already holds an overlay");
  } else if (existing.error().code() != ENOENT) {
    return existing.error();
  }
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO meta (id, params, revision, created_at) VALUES (1, ?1, 0, ?2)",
          DumpJson(ToJson(params)), now));
  params_.reset();
  Member m;
  m.name = control_name;
  m.public_key = control_key;
  m.endpoint = control_endpoint;
  m.control = true;
  m.joined_at = now;
  m.revision = 1;  // the first change
  ZL_RETURN_IF_ERROR(Run(
      "INSERT INTO members (name, public_key, endpoint, control, joined_at, revision) "
      "VALUES (?1, ?2, ?3, 1, ?4, ?5)",
      m.name, m.public_key, EndpointText(m.endpoint), now, m.revision));
  // The control node takes the first subnet of each pool.
  ZL_RETURN_IF_ERROR(Run("INSERT INTO subnets (family, idx, member) VALUES (4, 0, ?1)", m.name));
  auto subnet4 = NthSubnet(params.cidr4, params.node_prefix4, 0);
  if (!subnet4.ok()) return subnet4.error();
  m.subnet4 = *subnet4;
  if (params.cidr6) {
    ZL_RETURN_IF_ERROR(Run("INSERT INTO subnets (family, idx, member) VALUES (6, 0, ?1)", m.name));
    auto subnet6 = NthSubnet(*params.cidr6, params.node_prefix6, 0);
    if (!subnet6.ok()) return subnet6.error();
    m.subnet6 = *subnet6;
  }
  auto revision = LogChangeLocked(Change::Kind::kMemberUpsert, m.name, ToJson(m));
  if (!revision.ok()) return revision.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return m;
}

Result<OverlayParams> SqliteStore::Params() {
  MutexLock lock(mu_);
  return ParamsLocked();
}

Result<TokenRecord> SqliteStore::CreateToken(const std::string& id, const std::string& node_name,
                                             const crypto::PublicKey& onetime_key, int64_t now,
                                             int64_t expires_at) {
  ZL_RETURN_IF_ERROR(ValidateTokenId(id));
  if (!node_name.empty()) ZL_RETURN_IF_ERROR(ValidateNodeName(node_name));
  ZL_RETURN_IF_ERROR(ValidateKey(onetime_key, "the one-time public key"));
  if (expires_at <= now) return MakeError(EINVAL, "the token would expire before it is created");
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto params = ParamsLocked();
  if (!params.ok()) return params.error();
  ZL_RETURN_IF_ERROR(ReleaseExpiredLocked(now));

  auto stmt = Prepare(
      "SELECT (SELECT count(*) FROM tokens WHERE id = ?1), "
      "(SELECT count(*) FROM tokens WHERE onetime_key = ?2), "
      "(SELECT count(*) FROM members WHERE public_key = ?2)");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, id, onetime_key);
  if (auto row = stmt->Step(); !row.ok()) return row.error();
  if (stmt->Int(0) > 0) return MakeError(EEXIST, "a token with id " + id + " exists");
  if (stmt->Int(1) + stmt->Int(2) > 0) {
    return MakeError(EEXIST, "the one-time key is already in use");
  }
  if (!node_name.empty()) ZL_RETURN_IF_ERROR(CheckNameFreeLocked(node_name, ""));

  TokenRecord t;
  t.id = id;
  t.node_name = node_name;
  t.onetime_public_key = onetime_key;
  t.created_at = now;
  t.expires_at = expires_at;
  auto index4 = FreeIndexLocked(params->cidr4, params->node_prefix4);
  if (!index4.ok()) return index4.error();
  t.subnet4 = *NthSubnet(params->cidr4, params->node_prefix4, *index4);
  std::optional<uint64_t> index6;
  if (params->cidr6) {
    auto i6 = FreeIndexLocked(*params->cidr6, params->node_prefix6);
    if (!i6.ok()) return i6.error();
    index6 = *i6;
    t.subnet6 = *NthSubnet(*params->cidr6, params->node_prefix6, *i6);
  }
  std::optional<std::string> subnet6_text;
  if (t.subnet6) subnet6_text = t.subnet6->ToString();
  ZL_RETURN_IF_ERROR(Run(
      "INSERT INTO tokens (id, node_name, onetime_key, subnet4, subnet6, created_at, expires_at, "
      "state, used_by, holds_subnets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', '', 1)",
      t.id, t.node_name, t.onetime_public_key, t.subnet4.ToString(), subnet6_text, now,
      expires_at));
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO subnets (family, idx, token) VALUES (4, ?1, ?2)", *index4, t.id));
  if (index6) {
    ZL_RETURN_IF_ERROR(
        Run("INSERT INTO subnets (family, idx, token) VALUES (6, ?1, ?2)", *index6, t.id));
  }
  ZL_RETURN_IF_ERROR(tx->Commit());
  return t;
}

Result<std::vector<TokenRecord>> SqliteStore::Tokens() {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  return TokensWhereLocked("");
}

Result<TokenRecord> SqliteStore::FindToken(const std::string& id) {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  return FindTokenLocked(id);
}

Result<TokenRecord> SqliteStore::RevokeToken(const std::string& id) {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  auto t = FindTokenLocked(id);
  if (!t.ok()) return t.error();
  if (t->state == TokenRecord::State::kUsed) {
    return MakeError(EALREADY, "token " + id + " was already used by " + t->used_by);
  }
  if (t->state == TokenRecord::State::kRevoked) {
    return MakeError(EKEYREVOKED, "token " + id + " is already revoked");
  }
  ZL_RETURN_IF_ERROR(Run("DELETE FROM subnets WHERE token = ?1", id));
  ZL_RETURN_IF_ERROR(
      Run("UPDATE tokens SET state = 'revoked', holds_subnets = 0 WHERE id = ?1", id));
  ZL_RETURN_IF_ERROR(tx->Commit());
  t->state = TokenRecord::State::kRevoked;
  return t;
}

Result<Member> SqliteStore::RedeemToken(const std::string& id, const std::string& name,
                                        const crypto::PublicKey& node_key,
                                        std::optional<Endpoint> endpoint, int64_t now) {
  ZL_RETURN_IF_ERROR(ValidateNodeName(name));
  ZL_RETURN_IF_ERROR(ValidateKey(node_key, "the node's public key"));
  ZL_RETURN_IF_ERROR(ValidateEndpoint(endpoint));
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto params = ParamsLocked();
  if (!params.ok()) return params.error();
  auto t = FindTokenLocked(id);
  if (!t.ok()) return t.error();
  if (t->state == TokenRecord::State::kUsed) {
    return MakeError(EALREADY, "the token was already used");
  }
  if (t->state == TokenRecord::State::kRevoked) {
    return MakeError(EKEYREVOKED, "the token was revoked");
  }
  auto holds = Prepare("SELECT holds_subnets FROM tokens WHERE id = ?1");
  if (!holds.ok()) return holds.error();
  BindAll(*holds, id);
  if (auto row = holds->Step(); !row.ok()) return row.error();
  // A token whose subnets were released has expired, even if the clock has
  // since gone back.
  if (t->Expired(now) || holds->Int(0) == 0) {
    return MakeError(EKEYEXPIRED, "the token has expired");
  }
  if (!t->node_name.empty() && t->node_name != name) {
    return MakeError(EINVAL, "the token is for a node named '" + t->node_name + "', not '" +
                                 name + "'");
  }
  if (node_key == t->onetime_public_key) {
    return MakeError(EINVAL, "the node's key must not be the token's one-time key");
  }
  ZL_RETURN_IF_ERROR(CheckNameFreeLocked(name, id));
  auto by_key = MembersWhereLocked("WHERE m.public_key = ?1", node_key);
  if (!by_key.ok()) return by_key.error();
  if (!by_key->empty()) {
    return MakeError(EEXIST, "the key is already member '" + by_key->front().name + "'s");
  }

  auto revision = RevisionLocked();
  if (!revision.ok()) return revision.error();
  Member m;
  m.name = name;
  m.public_key = node_key;
  m.subnet4 = t->subnet4;
  m.subnet6 = t->subnet6;
  m.endpoint = endpoint;
  m.joined_at = now;
  m.revision = *revision + 1;  // LogChangeLocked's
  ZL_RETURN_IF_ERROR(Run(
      "INSERT INTO members (name, public_key, endpoint, control, joined_at, revision) "
      "VALUES (?1, ?2, ?3, 0, ?4, ?5)",
      m.name, m.public_key, EndpointText(m.endpoint), now, m.revision));
  ZL_RETURN_IF_ERROR(
      Run("UPDATE subnets SET member = ?1, token = NULL WHERE token = ?2", m.name, id));
  ZL_RETURN_IF_ERROR(Run(
      "UPDATE tokens SET state = 'used', used_by = ?1, holds_subnets = 0 WHERE id = ?2", name, id));
  // The member as the store now derives it, so the logged change and the
  // answer agree with every later read.
  auto stored = FindMemberLocked(name);
  if (!stored.ok()) return stored.error();
  if (stored->subnet4 != m.subnet4 || stored->subnet6 != m.subnet6) {
    return Inconsistent("token " + id + "'s subnets do not match its record");
  }
  auto logged = LogChangeLocked(Change::Kind::kMemberUpsert, name, ToJson(*stored));
  if (!logged.ok()) return logged.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return stored;
}

Result<std::vector<Member>> SqliteStore::Members() {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  return MembersWhereLocked("");
}

Result<Member> SqliteStore::FindMember(const std::string& name) {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  return FindMemberLocked(name);
}

Result<Member> SqliteStore::FindMemberByKey(const crypto::PublicKey& key) {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  auto found = MembersWhereLocked("WHERE m.public_key = ?1", key);
  if (!found.ok()) return found.error();
  if (found->empty()) return MakeError(ENOENT, "no member has key " + key.ToBase64());
  return std::move(found->front());
}

Result<Member> SqliteStore::UpdateEndpoint(const std::string& name,
                                           std::optional<Endpoint> endpoint) {
  ZL_RETURN_IF_ERROR(ValidateEndpoint(endpoint));
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto m = FindMemberLocked(name);
  if (!m.ok()) return m.error();
  if (m->endpoint == endpoint) return m;
  auto revision = RevisionLocked();
  if (!revision.ok()) return revision.error();
  m->endpoint = endpoint;
  m->revision = *revision + 1;
  ZL_RETURN_IF_ERROR(Run("UPDATE members SET endpoint = ?1, revision = ?2 WHERE name = ?3",
                         EndpointText(endpoint), m->revision, name));
  auto logged = LogChangeLocked(Change::Kind::kMemberUpsert, name, ToJson(*m));
  if (!logged.ok()) return logged.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return m;
}

Result<Member> SqliteStore::RemoveMember(const std::string& name) {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto m = FindMemberLocked(name);
  if (!m.ok()) return m.error();
  if (m->control) return MakeError(EINVAL, "'" + name + "' is the control node: it cannot be removed");
  // ON DELETE CASCADE releases its subnets.
  ZL_RETURN_IF_ERROR(Run("DELETE FROM members WHERE name = ?1", name));
  auto logged = LogChangeLocked(Change::Kind::kMemberRemoved, name, std::nullopt);
  if (!logged.ok()) return logged.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return m;
}

Result<DnsRecord> SqliteStore::RegisterName(const DnsRecord& record) {
  ZL_RETURN_IF_ERROR(ValidateDnsRecord(record));
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  auto clash = Prepare(
      "SELECT (SELECT count(*) FROM members WHERE name = ?1), "
      "(SELECT count(*) FROM tokens WHERE node_name = ?1 AND holds_subnets = 1)");
  if (!clash.ok()) return clash.error();
  BindAll(*clash, record.name);
  if (auto row = clash->Step(); !row.ok()) return row.error();
  if (clash->Int(0) > 0) return MakeError(EINVAL, "'" + record.name + "' is a member's name");
  if (clash->Int(1) > 0) {
    return MakeError(EINVAL, "'" + record.name + "' is reserved by a pending token");
  }
  auto names = NamesLocked();
  if (!names.ok()) return names.error();
  for (const DnsRecord& existing : *names) {
    if (existing.name == record.name && existing.address == record.address &&
        existing.target == record.target && existing.port == record.port) {
      return existing;  // unchanged: no new revision
    }
  }
  auto revision = RevisionLocked();
  if (!revision.ok()) return revision.error();
  DnsRecord r = record;
  r.revision = *revision + 1;
  std::optional<std::string> address;
  if (r.address) address = r.address->ToString();
  // One row per name: a new address replaces the old one.
  ZL_RETURN_IF_ERROR(Run(
      "INSERT INTO names (name, address, target, port, revision) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (name) DO UPDATE SET address = excluded.address, target = excluded.target, "
      "port = excluded.port, revision = excluded.revision",
      r.name, address, r.target, int(r.port), r.revision));
  auto logged = LogChangeLocked(Change::Kind::kNameUpsert, r.name, ToJson(r));
  if (!logged.ok()) return logged.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return r;
}

Result<void> SqliteStore::UnregisterName(const std::string& name) {
  ZL_RETURN_IF_ERROR(ValidateDnsName(name));
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kWrite);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  auto stmt = Prepare("DELETE FROM names WHERE name = ?1");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, name);
  ZL_RETURN_IF_ERROR(stmt->Run());
  if (stmt->Changes() == 0) return MakeError(ENOENT, "no registered name '" + name + "'");
  auto logged = LogChangeLocked(Change::Kind::kNameRemoved, name, std::nullopt);
  if (!logged.ok()) return logged.error();
  return tx->Commit();
}

Result<std::vector<DnsRecord>> SqliteStore::Names() {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  return NamesLocked();
}

Result<uint64_t> SqliteStore::Revision() {
  MutexLock lock(mu_);
  return RevisionLocked();
}

Result<StoreSnapshot> SqliteStore::Snapshot() {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  StoreSnapshot s;
  auto revision = RevisionLocked();
  if (!revision.ok()) return revision.error();
  s.revision = *revision;
  auto params = ParamsLocked();
  if (!params.ok()) return params.error();
  s.params = *params;
  auto members = MembersWhereLocked("");
  if (!members.ok()) return members.error();
  s.members = std::move(members.value());
  auto names = NamesLocked();
  if (!names.ok()) return names.error();
  s.names = std::move(names.value());
  return s;
}

Result<Delta> SqliteStore::ChangesSince(uint64_t since) {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  auto revision = RevisionLocked();
  if (!revision.ok()) return revision.error();
  Delta d;
  d.revision = *revision;
  if (since == *revision) return d;
  auto oldest = Prepare("SELECT min(revision) FROM changes");
  if (!oldest.ok()) return oldest.error();
  if (auto row = oldest->Step(); !row.ok()) return row.error();
  // Revisions are logged without gaps, so the log covers (since, revision]
  // exactly when its oldest entry is at most since + 1.
  if (since > *revision || oldest->IsNull(0) || uint64_t(oldest->Int(0)) > since + 1) {
    d.full_resync = true;
    return d;
  }
  auto stmt = Prepare(
      "SELECT revision, kind, name, payload FROM changes WHERE revision > ?1 ORDER BY revision");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, since);
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    // The stored form is the wire form: decode it with the same checks.
    nlohmann::json j = {{"revision", stmt->Int(0)}, {"kind", stmt->Text(1)}, {"name", stmt->Text(2)}};
    if (auto payload = stmt->OptionalText(3)) {
      auto parsed = ParseJson(*payload);
      if (!parsed.ok()) return Inconsistent("change " + std::to_string(stmt->Int(0)));
      j[stmt->Text(1) == "name_upsert" ? "record" : "member"] = std::move(parsed.value());
    }
    auto change = ChangeFromJson(j);
    if (!change.ok()) return Inconsistent(change.error().message());
    d.changes.push_back(std::move(change.value()));
  }
  return d;
}

Result<void> SqliteStore::CheckConsistency() {
  MutexLock lock(mu_);
  auto tx = SqliteTransaction::Begin(db_, Mode::kRead);
  if (!tx.ok()) return tx.error();
  return CheckConsistencyLocked();
}

Result<void> SqliteStore::CheckConsistencyLocked() {
  // The database's own integrity, and its foreign keys.
  auto integrity = Prepare("PRAGMA integrity_check");
  if (!integrity.ok()) return integrity.error();
  if (auto row = integrity->Step(); !row.ok()) return row.error();
  if (integrity->Text(0) != "ok") return Inconsistent("integrity check: " + integrity->Text(0));
  auto fk = Prepare("PRAGMA foreign_key_check");
  if (!fk.ok()) return fk.error();
  auto fk_row = fk->Step();
  if (!fk_row.ok()) return fk_row.error();
  if (*fk_row) return Inconsistent("a row of " + fk->Text(0) + " has a dangling reference");

  auto revision = RevisionLocked();
  if (!revision.ok()) {
    if (revision.error().code() != ENOENT) return revision.error();
    // Not initialised: nothing may exist yet.
    auto rows = Prepare(
        "SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM tokens) + "
        "(SELECT count(*) FROM subnets) + (SELECT count(*) FROM names) + "
        "(SELECT count(*) FROM changes)");
    if (!rows.ok()) return rows.error();
    if (auto row = rows->Step(); !row.ok()) return row.error();
    if (rows->Int(0) != 0) return Inconsistent("rows in a store that is not initialised");
    return Ok();
  }
  auto params = ParamsLocked();
  if (!params.ok()) return params.error();

  // Every subnet inside its pool, and of a configured family.
  auto subnets = Prepare("SELECT family, idx, member, token FROM subnets");
  if (!subnets.ok()) return subnets.error();
  while (true) {
    auto row = subnets->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    const int family = int(subnets->Int(0));
    const uint64_t idx = uint64_t(subnets->Int(1));
    const std::string owner = subnets->IsNull(2) ? "token " + subnets->Text(3)
                                                 : "member " + subnets->Text(2);
    if (family == 6 && !params->cidr6) {
      return Inconsistent(owner + " owns an IPv6 subnet, but the overlay has no IPv6");
    }
    const Cidr& pool = family == 4 ? params->cidr4 : *params->cidr6;
    auto subnet = NthSubnet(pool, family == 4 ? params->node_prefix4 : params->node_prefix6, idx);
    if (!subnet.ok()) return Inconsistent(owner + ": " + subnet.error().message());
  }

  // Every member, and every token holding subnets, owns one subnet per
  // family (the schema allows at most one per family); other tokens none.
  const int families = params->cidr6 ? 2 : 1;
  auto owners = Prepare(
      "SELECT 'member ' || name, (SELECT count(*) FROM subnets WHERE member = name), ?1 "
      "FROM members UNION ALL "
      "SELECT 'token ' || id || ' (' || state || ')', "
      "(SELECT count(*) FROM subnets WHERE token = id), holds_subnets * ?1 FROM tokens");
  if (!owners.ok()) return owners.error();
  BindAll(*owners, families);
  while (true) {
    auto row = owners->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    if (owners->Int(1) != owners->Int(2)) {
      return Inconsistent(owners->Text(0) + " owns " + std::to_string(owners->Int(1)) +
                          " subnets instead of " + std::to_string(owners->Int(2)));
    }
  }
  // A pending token's recorded subnets are the ones it holds.
  auto tokens = TokensWhereLocked("WHERE holds_subnets = 1");
  if (!tokens.ok()) return tokens.error();
  for (const TokenRecord& t : *tokens) {
    auto held = Prepare("SELECT family, idx FROM subnets WHERE token = ?1");
    if (!held.ok()) return held.error();
    BindAll(*held, t.id);
    while (true) {
      auto row = held->Step();
      if (!row.ok()) return row.error();
      if (!*row) break;
      const bool v4 = held->Int(0) == 4;
      auto subnet = v4 ? NthSubnet(params->cidr4, params->node_prefix4, uint64_t(held->Int(1)))
                       : NthSubnet(*params->cidr6, params->node_prefix6, uint64_t(held->Int(1)));
      if (!subnet.ok() || (v4 ? std::optional<Cidr>(t.subnet4) : t.subnet6) != *subnet) {
        return Inconsistent("token " + t.id + " holds another subnet than it records");
      }
    }
  }
  // Exactly one control member; decodable members (MemberFromRow checks).
  auto members = MembersWhereLocked("");
  if (!members.ok()) return members.error();
  size_t controls = 0;
  for (const Member& m : *members) {
    controls += m.control ? 1 : 0;
    if (m.revision > *revision) return Inconsistent("member " + m.name + " is past the revision");
  }
  if (controls != 1) return Inconsistent(std::to_string(controls) + " control members");
  auto names = NamesLocked();
  if (!names.ok()) return names.error();
  for (const DnsRecord& r : *names) {
    if (r.revision > *revision) return Inconsistent("name " + r.name + " is past the revision");
  }

  // The change log: no gaps, nothing past the store's revision.
  auto log = Prepare("SELECT count(*), min(revision), max(revision) FROM changes");
  if (!log.ok()) return log.error();
  if (auto row = log->Step(); !row.ok()) return row.error();
  if (log->Int(0) > 0) {
    const int64_t count = log->Int(0), min = log->Int(1), max = log->Int(2);
    if (uint64_t(max) > *revision) {
      return Inconsistent("change " + std::to_string(max) + " is past the revision " +
                          std::to_string(*revision));
    }
    if (max - min + 1 != count) return Inconsistent("gaps in the change log");
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               const SqliteStoreOptions& options) {
  auto db = OpenStoreDatabase(path, options.create, options.busy_timeout_ms);
  if (!db.ok()) return db.error();
  return std::unique_ptr<Store>(new SqliteStore(std::move(db.value()), options));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  return OpenSqliteStore(path, SqliteStoreOptions());
}

}  // namespace zl::overlay
