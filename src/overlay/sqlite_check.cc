#include "overlay/sqlite_check.h"

#include <string>

#include "overlay/ipam.h"
#include "overlay/sqlite_rows.h"

namespace zl::overlay {
namespace {

// The first column of the first row of `sql` (empty / 0 without rows).
Result<std::string> FirstText(SqliteDb& db, const char* sql) {
  auto rows = QueryAll<std::string>(
      db, sql, [](const SqliteStatement& row) -> Result<std::string> {
        return row.Text(0);
      });
  if (!rows.ok()) return rows.error();
  return rows->empty() ? std::string() : rows->front();
}

Result<int64_t> FirstInt(SqliteDb& db, const char* sql) {
  auto rows = QueryAll<int64_t>(
      db, sql,
      [](const SqliteStatement& row) -> Result<int64_t> { return row.Int(0); });
  if (!rows.ok()) return rows.error();
  return rows->empty() ? 0 : rows->front();
}

Result<void> CheckIntegrity(SqliteDb& db) {
  auto integrity = FirstText(db, "PRAGMA integrity_check");
  if (!integrity.ok()) return integrity.error();
  if (*integrity != "ok") return Inconsistent("integrity check: " + *integrity);
  auto dangling = FirstText(db, "PRAGMA foreign_key_check");
  if (!dangling.ok()) return dangling.error();
  if (!dangling->empty()) {
    return Inconsistent("a row of " + *dangling + " has a dangling reference");
  }
  return Ok();
}

Result<void> CheckEmpty(SqliteDb& db) {
  auto rows = FirstInt(
      db,
      "SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM tokens) + "
      "(SELECT count(*) FROM subnets) + (SELECT count(*) FROM names) + "
      "(SELECT count(*) FROM changes)");
  if (!rows.ok()) return rows.error();
  if (*rows != 0) {
    return Inconsistent("rows in a store that is not initialised");
  }
  return Ok();
}

struct SubnetRow {
  std::string owner;  // "member NAME" or "token ID"
  bool token = false;
  int family = 4;
  Cidr subnet;
};

Result<void> CheckSubnets(SqliteDb& db, const OverlayParams& params) {
  // Every subnet inside its pool, and of a configured family.
  auto subnets = QueryAll<SubnetRow>(
      db,
      "SELECT coalesce('member ' || member, 'token ' || token), "
      "token IS NOT NULL, family, idx FROM subnets",
      [&](const SqliteStatement& row) -> Result<SubnetRow> {
        SubnetRow s{row.Text(0), row.Int(1) != 0, int(row.Int(2)), Cidr()};
        if (s.family == 6 && !params.cidr6) {
          return Inconsistent(
              s.owner + " owns an IPv6 subnet, but the overlay has no IPv6");
        }
        auto subnet = s.family == 4
                          ? NthSubnet(params.cidr4, params.node_prefix4,
                                      uint64_t(row.Int(3)))
                          : NthSubnet(*params.cidr6, params.node_prefix6,
                                      uint64_t(row.Int(3)));
        if (!subnet.ok()) {
          return Inconsistent(s.owner + ": " + subnet.error().message());
        }
        s.subnet = *subnet;
        return s;
      });
  if (!subnets.ok()) return subnets.error();

  // Every member and every token holding subnets owns one per family (the
  // schema allows at most one per family); other tokens own none.
  const int families = params.cidr6 ? 2 : 1;
  auto owners = QueryAll<bool>(
      db,
      "SELECT 'member ' || name, "
      "(SELECT count(*) FROM subnets WHERE member = name), ?1 FROM members "
      "UNION ALL SELECT 'token ' || id || ' (' || state || ')', "
      "(SELECT count(*) FROM subnets WHERE token = id), holds_subnets * ?1 "
      "FROM tokens",
      [](const SqliteStatement& row) -> Result<bool> {
        if (row.Int(1) != row.Int(2)) {
          return Inconsistent(
              row.Text(0) + " owns " + std::to_string(row.Int(1)) +
              " subnets instead of " + std::to_string(row.Int(2)));
        }
        return true;
      },
      families);
  if (!owners.ok()) return owners.error();

  // A pending token holds the subnets it records.
  auto tokens = QueryAll<TokenRecord>(
      db, std::string(kSelectTokens) + "WHERE holds_subnets = 1", TokenFromRow);
  if (!tokens.ok()) return tokens.error();
  for (const TokenRecord& t : *tokens) {
    for (const SubnetRow& s : *subnets) {
      if (!s.token || s.owner != "token " + t.id) continue;
      if ((s.family == 4 ? std::optional<Cidr>(t.subnet4) : t.subnet6) !=
          s.subnet) {
        return Inconsistent("token " + t.id +
                            " holds another subnet than it records");
      }
    }
  }
  return Ok();
}

Result<void> CheckRevisions(SqliteDb& db, const OverlayParams& params) {
  auto revision = FirstInt(db, "SELECT revision FROM meta WHERE id = 1");
  if (!revision.ok()) return revision.error();
  const uint64_t current = uint64_t(*revision);
  auto members = QueryAll<Member>(
      db, kSelectMembers,
      [&](const SqliteStatement& row) { return MemberFromRow(row, params); });
  if (!members.ok()) return members.error();
  size_t controls = 0;
  for (const Member& m : *members) {
    controls += m.control ? 1 : 0;
    if (m.revision > current) {
      return Inconsistent("member " + m.name + " is past the revision");
    }
  }
  if (controls != 1) {
    return Inconsistent(std::to_string(controls) + " control members");
  }
  auto names = QueryAll<DnsRecord>(db, kSelectNames, NameFromRow);
  if (!names.ok()) return names.error();
  for (const DnsRecord& r : *names) {
    if (r.revision > current) {
      return Inconsistent("name " + r.name + " is past the revision");
    }
  }
  // The change log: nothing past the revision, no gaps (each revision is
  // one change; trimming removes only the oldest).
  auto log = QueryAll<bool>(
      db, "SELECT count(*), min(revision), max(revision) FROM changes",
      [&](const SqliteStatement& row) -> Result<bool> {
        const int64_t count = row.Int(0), min = row.Int(1), max = row.Int(2);
        if (count == 0) return true;
        if (uint64_t(max) > current) {
          return Inconsistent("change " + std::to_string(max) +
                              " is past the revision " +
                              std::to_string(current));
        }
        if (max - min + 1 != count) {
          return Inconsistent("gaps in the change log");
        }
        return true;
      });
  if (!log.ok()) return log.error();
  return Ok();
}

}  // namespace

Result<void> CheckStoreConsistency(SqliteDb& db) {
  ZL_RETURN_IF_ERROR(CheckIntegrity(db));
  auto params = ReadParams(db);
  if (!params.ok()) {
    if (params.error().code() == ENOENT) return CheckEmpty(db);
    return params.error();
  }
  ZL_RETURN_IF_ERROR(CheckSubnets(db, *params));
  return CheckRevisions(db, *params);
}

}  // namespace zl::overlay
