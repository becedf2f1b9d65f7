#include "overlay/sqlite_store.h"

#include <set>
#include <utility>

#include "base/mutex.h"
#include "overlay/ipam.h"
#include "overlay/model_json.h"
#include "overlay/sqlite_check.h"
#include "overlay/sqlite_db.h"
#include "overlay/sqlite_rows.h"
#include "overlay/sqlite_schema.h"

namespace zl::overlay {
namespace {

using Mode = SqliteTransaction::Mode;

int FamilyNumber(IpAddress::Family family) {
  return family == IpAddress::Family::kV4 ? 4 : 6;
}

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
  if (key.IsZero()) {
    return MakeError(EINVAL, std::string(what) + " is all zero");
  }
  return Ok();
}

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteDb db, SqliteStoreOptions options)
      : db_(std::move(db)), options_(options) {}

  Result<Member> Initialize(const OverlayParams& params,
                            const std::string& control_name,
                            const crypto::PublicKey& control_key,
                            std::optional<Endpoint> control_endpoint,
                            int64_t now) override;
  Result<OverlayParams> Params() override;
  Result<TokenRecord> CreateToken(const std::string& id,
                                  const std::string& node_name,
                                  const crypto::PublicKey& onetime_key,
                                  int64_t now, int64_t expires_at) override;
  Result<std::vector<TokenRecord>> Tokens() override;
  Result<TokenRecord> FindToken(const std::string& id) override;
  Result<TokenRecord> RevokeToken(const std::string& id) override;
  Result<Member> RedeemToken(const std::string& id, const std::string& name,
                             const crypto::PublicKey& node_key,
                             std::optional<Endpoint> endpoint,
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

  // Begins a transaction on an initialised store (ENOENT otherwise).
  Result<SqliteTransaction> BeginLocked(Mode mode) REQUIRES(mu_);
  // Params, cached once read (they never change after Initialize).
  Result<OverlayParams> ParamsLocked() REQUIRES(mu_);
  Result<uint64_t> RevisionLocked() REQUIRES(mu_);
  // Bumps the revision and logs the change; returns the new revision.
  // `payload` is the member or record for upserts.
  Result<uint64_t> LogChangeLocked(Change::Kind kind, const std::string& name,
                                   const std::optional<nlohmann::json>& payload)
      REQUIRES(mu_);
  // Members matching `where` (an SQL condition on m, "" for all, with ?1...
  // bound to `args`), ordered by name.
  template <typename... Args>
  Result<std::vector<Member>> MembersWhereLocked(const char* where,
                                                 const Args&... args)
      REQUIRES(mu_);
  Result<Member> FindMemberLocked(const std::string& name) REQUIRES(mu_);
  // Tokens matching `where`, newest first.
  template <typename... Args>
  Result<std::vector<TokenRecord>> TokensWhereLocked(const char* where,
                                                     const Args&... args)
      REQUIRES(mu_);
  Result<TokenRecord> FindTokenLocked(const std::string& id) REQUIRES(mu_);
  Result<std::vector<DnsRecord>> NamesLocked() REQUIRES(mu_);
  // The lowest free subnet of a family's pool (ENOSPC when full).
  Result<uint64_t> FreeIndexLocked(const Cidr& pool, uint8_t prefix)
      REQUIRES(mu_);
  // Gives the subnets of expired pending tokens back to the pool.
  Result<void> ReleaseExpiredLocked(int64_t now) REQUIRES(mu_);
  // EEXIST when `name` is a member's, a registered DNS name or reserved by a
  // pending token other than `except_token`.
  Result<void> CheckNameFreeLocked(const std::string& name,
                                   const std::string& except_token)
      REQUIRES(mu_);

  Mutex mu_;
  SqliteDb db_ GUARDED_BY(mu_);
  const SqliteStoreOptions options_;
  std::optional<OverlayParams> params_ GUARDED_BY(mu_);
};

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
  auto params = ReadParams(db_);
  if (params.ok()) params_ = *params;
  return params;
}

Result<SqliteTransaction> SqliteStore::BeginLocked(Mode mode) {
  auto tx = SqliteTransaction::Begin(db_, mode);
  if (!tx.ok()) return tx.error();
  if (auto params = ParamsLocked(); !params.ok()) return params.error();
  return tx;
}

Result<uint64_t> SqliteStore::RevisionLocked() {
  auto stmt = Prepare("SELECT revision FROM meta WHERE id = 1");
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  if (!*row) return NotInitialized();
  return uint64_t(stmt->Int(0));
}

template <typename... Args>
Result<std::vector<Member>> SqliteStore::MembersWhereLocked(
    const char* where, const Args&... args) {
  auto params = ParamsLocked();
  if (!params.ok()) return params.error();
  return QueryAll<Member>(
      db_, std::string(kSelectMembers) + where + " ORDER BY m.name",
      [&](const SqliteStatement& row) { return MemberFromRow(row, *params); },
      args...);
}

Result<Member> SqliteStore::FindMemberLocked(const std::string& name) {
  auto found = MembersWhereLocked("WHERE m.name = ?1", name);
  if (!found.ok()) return found.error();
  if (found->empty()) {
    return MakeError(ENOENT, "no member named '" + name + "'");
  }
  return std::move(found->front());
}

template <typename... Args>
Result<std::vector<TokenRecord>> SqliteStore::TokensWhereLocked(
    const char* where, const Args&... args) {
  return QueryAll<TokenRecord>(db_,
                               std::string(kSelectTokens) + where +
                                   " ORDER BY created_at DESC, rowid DESC",
                               TokenFromRow, args...);
}

Result<TokenRecord> SqliteStore::FindTokenLocked(const std::string& id) {
  auto found = TokensWhereLocked("WHERE id = ?1", id);
  if (!found.ok()) return found.error();
  if (found->empty()) return MakeError(ENOENT, "no token with id " + id);
  return std::move(found->front());
}

Result<std::vector<DnsRecord>> SqliteStore::NamesLocked() {
  return QueryAll<DnsRecord>(db_, std::string(kSelectNames) + "ORDER BY name",
                             NameFromRow);
}

// --- writing ---

Result<uint64_t> SqliteStore::LogChangeLocked(
    Change::Kind kind, const std::string& name,
    const std::optional<nlohmann::json>& payload) {
  auto current = RevisionLocked();
  if (!current.ok()) return current.error();
  const uint64_t revision = *current + 1;
  ZL_RETURN_IF_ERROR(
      Run("UPDATE meta SET revision = ?1 WHERE id = 1", revision));
  std::optional<std::string> text;
  if (payload) text = DumpJson(*payload);
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO changes (revision, kind, name, payload) VALUES (?1, ?2, "
          "?3, ?4)",
          revision, ChangeKindName(kind), name, text));
  // Keep the last change_log_limit changes; older watchers resync in full.
  const uint64_t limit = std::max<uint64_t>(options_.change_log_limit, 1);
  if (revision > limit) {
    ZL_RETURN_IF_ERROR(
        Run("DELETE FROM changes WHERE revision <= ?1", revision - limit));
  }
  return revision;
}

Result<uint64_t> SqliteStore::FreeIndexLocked(const Cidr& pool,
                                              uint8_t prefix) {
  auto count = SubnetCount(pool, prefix);
  if (!count.ok()) return count.error();
  auto used = QueryAll<uint64_t>(
      db_, "SELECT idx FROM subnets WHERE family = ?1 ORDER BY idx",
      [](const SqliteStatement& row) -> Result<uint64_t> {
        return uint64_t(row.Int(0));
      },
      FamilyNumber(pool.address().family()));
  if (!used.ok()) return used.error();
  auto index = LowestFreeIndex(*used, *count);
  if (!index.ok() && index.error().code() == ENOSPC) {
    return MakeError(ENOSPC, "the address pool " + pool.ToString() +
                                 " is full (" + std::to_string(*count) + " /" +
                                 std::to_string(prefix) + " subnets in use)");
  }
  return index;
}

Result<void> SqliteStore::ReleaseExpiredLocked(int64_t now) {
  ZL_RETURN_IF_ERROR(Run(
      "DELETE FROM subnets WHERE token IN "
      "(SELECT id FROM tokens WHERE holds_subnets = 1 AND expires_at <= ?1)",
      now));
  return Run(
      "UPDATE tokens SET holds_subnets = 0 WHERE holds_subnets = 1 AND "
      "expires_at <= ?1",
      now);
}

Result<void> SqliteStore::CheckNameFreeLocked(const std::string& name,
                                              const std::string& except_token) {
  auto stmt = Prepare(
      "SELECT (SELECT count(*) FROM members WHERE name = ?1), "
      "(SELECT count(*) FROM names WHERE name = ?1), "
      "(SELECT count(*) FROM tokens WHERE node_name = ?1 AND holds_subnets = 1 "
      "AND id != ?2)");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, name, except_token);
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  if (stmt->Int(0) > 0) {
    return MakeError(EEXIST, "the name '" + name + "' is already a member's");
  }
  if (stmt->Int(1) > 0) {
    return MakeError(EEXIST,
                     "the name '" + name + "' is a registered DNS name");
  }
  if (stmt->Int(2) > 0) {
    return MakeError(EEXIST,
                     "the name '" + name + "' is reserved by a pending token");
  }
  return Ok();
}

Result<Member> SqliteStore::Initialize(const OverlayParams& params,
                                       const std::string& control_name,
                                       const crypto::PublicKey& control_key,
                                       std::optional<Endpoint> control_endpoint,
                                       int64_t now) {
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
      Run("INSERT INTO meta (id, params, revision, created_at) VALUES (1, ?1, "
          "0, ?2)",
          DumpJson(ToJson(params)), now));
  params_.reset();
  Member m;
  m.name = control_name;
  m.public_key = control_key;
  m.endpoint = control_endpoint;
  m.control = true;
  m.joined_at = now;
  m.revision = 1;  // the first change
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO members (name, public_key, endpoint, control, "
          "joined_at, revision) "
          "VALUES (?1, ?2, ?3, 1, ?4, ?5)",
          m.name, m.public_key, EndpointText(m.endpoint), now, m.revision));
  // The control node takes the first subnet of each pool.
  ZL_RETURN_IF_ERROR(Run(
      "INSERT INTO subnets (family, idx, member) VALUES (4, 0, ?1)", m.name));
  auto subnet4 = NthSubnet(params.cidr4, params.node_prefix4, 0);
  if (!subnet4.ok()) return subnet4.error();
  m.subnet4 = *subnet4;
  if (params.cidr6) {
    ZL_RETURN_IF_ERROR(Run(
        "INSERT INTO subnets (family, idx, member) VALUES (6, 0, ?1)", m.name));
    auto subnet6 = NthSubnet(*params.cidr6, params.node_prefix6, 0);
    if (!subnet6.ok()) return subnet6.error();
    m.subnet6 = *subnet6;
  }
  auto revision =
      LogChangeLocked(Change::Kind::kMemberUpsert, m.name, ToJson(m));
  if (!revision.ok()) return revision.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return m;
}

Result<OverlayParams> SqliteStore::Params() {
  MutexLock lock(mu_);
  return ParamsLocked();
}

Result<TokenRecord> SqliteStore::CreateToken(
    const std::string& id, const std::string& node_name,
    const crypto::PublicKey& onetime_key, int64_t now, int64_t expires_at) {
  ZL_RETURN_IF_ERROR(ValidateTokenId(id));
  if (!node_name.empty()) ZL_RETURN_IF_ERROR(ValidateNodeName(node_name));
  ZL_RETURN_IF_ERROR(ValidateKey(onetime_key, "the one-time public key"));
  if (expires_at <= now) {
    return MakeError(EINVAL, "the token would expire before it is created");
  }
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto params = ParamsLocked();  // cached by BeginLocked
  if (!params.ok()) return params.error();
  ZL_RETURN_IF_ERROR(ReleaseExpiredLocked(now));

  auto stmt = Prepare(
      "SELECT (SELECT count(*) FROM tokens WHERE id = ?1), "
      "(SELECT count(*) FROM tokens WHERE onetime_key = ?2), "
      "(SELECT count(*) FROM members WHERE public_key = ?2)");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, id, onetime_key);
  if (auto row = stmt->Step(); !row.ok()) return row.error();
  if (stmt->Int(0) > 0) {
    return MakeError(EEXIST, "a token with id " + id + " exists");
  }
  if (stmt->Int(1) + stmt->Int(2) > 0) {
    return MakeError(EEXIST, "the one-time key is already in use");
  }
  if (!node_name.empty()) {
    ZL_RETURN_IF_ERROR(CheckNameFreeLocked(node_name, ""));
  }

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
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO tokens (id, node_name, onetime_key, subnet4, subnet6, "
          "created_at, expires_at, "
          "state, used_by, holds_subnets) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
          "'pending', '', 1)",
          t.id, t.node_name, t.onetime_public_key, t.subnet4.ToString(),
          subnet6_text, now, expires_at));
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO subnets (family, idx, token) VALUES (4, ?1, ?2)",
          *index4, t.id));
  if (index6) {
    ZL_RETURN_IF_ERROR(
        Run("INSERT INTO subnets (family, idx, token) VALUES (6, ?1, ?2)",
            *index6, t.id));
  }
  ZL_RETURN_IF_ERROR(tx->Commit());
  return t;
}

Result<std::vector<TokenRecord>> SqliteStore::Tokens() {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kRead);
  if (!tx.ok()) return tx.error();
  return TokensWhereLocked("");
}

Result<TokenRecord> SqliteStore::FindToken(const std::string& id) {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kRead);
  if (!tx.ok()) return tx.error();
  return FindTokenLocked(id);
}

Result<TokenRecord> SqliteStore::RevokeToken(const std::string& id) {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto t = FindTokenLocked(id);
  if (!t.ok()) return t.error();
  if (t->state == TokenRecord::State::kUsed) {
    return MakeError(EALREADY,
                     "token " + id + " was already used by " + t->used_by);
  }
  if (t->state == TokenRecord::State::kRevoked) {
    return MakeError(EKEYREVOKED, "token " + id + " is already revoked");
  }
  ZL_RETURN_IF_ERROR(Run("DELETE FROM subnets WHERE token = ?1", id));
  ZL_RETURN_IF_ERROR(Run(
      "UPDATE tokens SET state = 'revoked', holds_subnets = 0 WHERE id = ?1",
      id));
  ZL_RETURN_IF_ERROR(tx->Commit());
  t->state = TokenRecord::State::kRevoked;
  return t;
}

Result<Member> SqliteStore::RedeemToken(const std::string& id,
                                        const std::string& name,
                                        const crypto::PublicKey& node_key,
                                        std::optional<Endpoint> endpoint,
                                        int64_t now) {
  ZL_RETURN_IF_ERROR(ValidateNodeName(name));
  ZL_RETURN_IF_ERROR(ValidateKey(node_key, "the node's public key"));
  ZL_RETURN_IF_ERROR(ValidateEndpoint(endpoint));
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kWrite);
  if (!tx.ok()) return tx.error();
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
    return MakeError(EINVAL, "the token is for a node named '" + t->node_name +
                                 "', not '" + name + "'");
  }
  if (node_key == t->onetime_public_key) {
    return MakeError(EINVAL,
                     "the node's key must not be the token's one-time key");
  }
  ZL_RETURN_IF_ERROR(CheckNameFreeLocked(name, id));
  auto by_key = MembersWhereLocked("WHERE m.public_key = ?1", node_key);
  if (!by_key.ok()) return by_key.error();
  if (!by_key->empty()) {
    return MakeError(
        EEXIST, "the key is already member '" + by_key->front().name + "'s");
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
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO members (name, public_key, endpoint, control, "
          "joined_at, revision) "
          "VALUES (?1, ?2, ?3, 0, ?4, ?5)",
          m.name, m.public_key, EndpointText(m.endpoint), now, m.revision));
  ZL_RETURN_IF_ERROR(
      Run("UPDATE subnets SET member = ?1, token = NULL WHERE token = ?2",
          m.name, id));
  ZL_RETURN_IF_ERROR(
      Run("UPDATE tokens SET state = 'used', used_by = ?1, holds_subnets = 0 "
          "WHERE id = ?2",
          name, id));
  // The member as the store now derives it, so the logged change and the
  // answer agree with every later read.
  auto stored = FindMemberLocked(name);
  if (!stored.ok()) return stored.error();
  if (stored->subnet4 != m.subnet4 || stored->subnet6 != m.subnet6) {
    return Inconsistent("token " + id + "'s subnets do not match its record");
  }
  auto logged =
      LogChangeLocked(Change::Kind::kMemberUpsert, name, ToJson(*stored));
  if (!logged.ok()) return logged.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return stored;
}

Result<std::vector<Member>> SqliteStore::Members() {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kRead);
  if (!tx.ok()) return tx.error();
  return MembersWhereLocked("");
}

Result<Member> SqliteStore::FindMember(const std::string& name) {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kRead);
  if (!tx.ok()) return tx.error();
  return FindMemberLocked(name);
}

Result<Member> SqliteStore::FindMemberByKey(const crypto::PublicKey& key) {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kRead);
  if (!tx.ok()) return tx.error();
  auto found = MembersWhereLocked("WHERE m.public_key = ?1", key);
  if (!found.ok()) return found.error();
  if (found->empty()) {
    return MakeError(ENOENT, "no member has key " + key.ToBase64());
  }
  return std::move(found->front());
}

Result<Member> SqliteStore::UpdateEndpoint(const std::string& name,
                                           std::optional<Endpoint> endpoint) {
  ZL_RETURN_IF_ERROR(ValidateEndpoint(endpoint));
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto m = FindMemberLocked(name);
  if (!m.ok()) return m.error();
  if (m->endpoint == endpoint) return m;
  auto revision = RevisionLocked();
  if (!revision.ok()) return revision.error();
  m->endpoint = endpoint;
  m->revision = *revision + 1;
  ZL_RETURN_IF_ERROR(
      Run("UPDATE members SET endpoint = ?1, revision = ?2 WHERE name = ?3",
          EndpointText(endpoint), m->revision, name));
  auto logged = LogChangeLocked(Change::Kind::kMemberUpsert, name, ToJson(*m));
  if (!logged.ok()) return logged.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return m;
}

Result<Member> SqliteStore::RemoveMember(const std::string& name) {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto m = FindMemberLocked(name);
  if (!m.ok()) return m.error();
  if (m->control) {
    return MakeError(
        EINVAL, "'" + name + "' is the control node: it cannot be removed");
  }
  // ON DELETE CASCADE releases its subnets.
  ZL_RETURN_IF_ERROR(Run("DELETE FROM members WHERE name = ?1", name));
  auto logged =
      LogChangeLocked(Change::Kind::kMemberRemoved, name, std::nullopt);
  if (!logged.ok()) return logged.error();
  ZL_RETURN_IF_ERROR(tx->Commit());
  return m;
}

Result<DnsRecord> SqliteStore::RegisterName(const DnsRecord& record) {
  ZL_RETURN_IF_ERROR(ValidateDnsRecord(record));
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto clash = Prepare(
      "SELECT (SELECT count(*) FROM members WHERE name = ?1), "
      "(SELECT count(*) FROM tokens WHERE node_name = ?1 AND holds_subnets = "
      "1)");
  if (!clash.ok()) return clash.error();
  BindAll(*clash, record.name);
  if (auto row = clash->Step(); !row.ok()) return row.error();
  if (clash->Int(0) > 0) {
    return MakeError(EINVAL, "'" + record.name + "' is a member's name");
  }
  if (clash->Int(1) > 0) {
    return MakeError(EINVAL,
                     "'" + record.name + "' is reserved by a pending token");
  }
  auto existing =
      QueryAll<DnsRecord>(db_, std::string(kSelectNames) + "WHERE name = ?1",
                          NameFromRow, record.name);
  if (!existing.ok()) return existing.error();
  for (const DnsRecord& e : *existing) {
    if (e.address == record.address && e.target == record.target &&
        e.port == record.port) {
      return e;  // unchanged: no new revision
    }
  }
  auto revision = RevisionLocked();
  if (!revision.ok()) return revision.error();
  DnsRecord r = record;
  r.revision = *revision + 1;
  std::optional<std::string> address;
  if (r.address) address = r.address->ToString();
  // One row per name: a new address replaces the old one.
  ZL_RETURN_IF_ERROR(
      Run("INSERT INTO names (name, address, target, port, revision) VALUES "
          "(?1, ?2, ?3, ?4, ?5) "
          "ON CONFLICT (name) DO UPDATE SET address = excluded.address, target "
          "= excluded.target, "
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
  auto tx = BeginLocked(Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto stmt = Prepare("DELETE FROM names WHERE name = ?1");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, name);
  ZL_RETURN_IF_ERROR(stmt->Run());
  if (stmt->Changes() == 0) {
    return MakeError(ENOENT, "no registered name '" + name + "'");
  }
  auto logged = LogChangeLocked(Change::Kind::kNameRemoved, name, std::nullopt);
  if (!logged.ok()) return logged.error();
  return tx->Commit();
}

Result<std::vector<DnsRecord>> SqliteStore::Names() {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kRead);
  if (!tx.ok()) return tx.error();
  return NamesLocked();
}

Result<uint64_t> SqliteStore::Revision() {
  MutexLock lock(mu_);
  return RevisionLocked();
}

Result<StoreSnapshot> SqliteStore::Snapshot() {
  MutexLock lock(mu_);
  auto tx = BeginLocked(Mode::kRead);
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
  auto tx = BeginLocked(Mode::kRead);
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
  if (since > *revision || oldest->IsNull(0) ||
      uint64_t(oldest->Int(0)) > since + 1) {
    d.full_resync = true;
    return d;
  }
  auto stmt = Prepare(
      "SELECT revision, kind, name, payload FROM changes WHERE revision > ?1 "
      "ORDER BY revision");
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, since);
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) break;
    // The stored form is the wire form: decode it with the same checks.
    nlohmann::json j = {{"revision", stmt->Int(0)},
                        {"kind", stmt->Text(1)},
                        {"name", stmt->Text(2)}};
    if (auto payload = stmt->OptionalText(3)) {
      auto parsed = ParseJson(*payload);
      if (!parsed.ok()) {
        return Inconsistent("change " + std::to_string(stmt->Int(0)));
      }
      j[stmt->Text(1) == "name_upsert" ? "record" : "member"] =
          std::move(parsed.value());
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
  return CheckStoreConsistency(db_);
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(
    const std::string& path, const SqliteStoreOptions& options) {
  auto db = OpenStoreDatabase(path, options.create, options.busy_timeout_ms);
  if (!db.ok()) return db.error();
  return std::unique_ptr<Store>(
      new SqliteStore(std::move(db.value()), options));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  return OpenSqliteStore(path, SqliteStoreOptions());
}

}  // namespace zl::overlay
