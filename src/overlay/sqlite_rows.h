#pragma once
// Rows of the SQLite store's tables (sqlite_schema.h) as model values, and
// the query helpers the store and its consistency check share: binding
// arguments by position and decoding every row of a query.
//
// A stored value that does not decode is EIO "store inconsistent: ...".
//
// Thread safety: free functions on a connection the caller holds.

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "crypto/keys.h"
#include "overlay/model.h"
#include "overlay/sqlite_db.h"

namespace zl::overlay {

// EIO "store inconsistent: `what`".
Error Inconsistent(const std::string& what);
// ENOENT: no overlay in the store yet.
Error NotInitialized();

// --- binding ?1, ?2, ... in order ---
inline void BindOne(SqliteStatement& s, int i, int64_t v) { s.Bind(i, v); }
inline void BindOne(SqliteStatement& s, int i, uint64_t v) {
  s.Bind(i, int64_t(v));
}
inline void BindOne(SqliteStatement& s, int i, int v) { s.Bind(i, int64_t(v)); }
inline void BindOne(SqliteStatement& s, int i, const std::string& v) {
  s.Bind(i, std::string_view(v));
}
inline void BindOne(SqliteStatement& s, int i, const char* v) {
  s.Bind(i, std::string_view(v));
}
inline void BindOne(SqliteStatement& s, int i,
                    const std::optional<std::string>& v) {
  s.Bind(i, v);
}
inline void BindOne(SqliteStatement& s, int i, const crypto::PublicKey& v) {
  s.Bind(i, v.span());
}

template <typename... Args>
void BindAll([[maybe_unused]] SqliteStatement& s, const Args&... args) {
  [[maybe_unused]] int i = 0;
  (BindOne(s, ++i, args), ...);
}

// Runs `sql` with `args` and decodes each row with `decode` (a function
// from const SqliteStatement& to Result<T>).
template <typename T, typename Decode, typename... Args>
Result<std::vector<T>> QueryAll(SqliteDb& db, std::string_view sql,
                                Decode decode, const Args&... args) {
  auto stmt = SqliteStatement::Prepare(db, sql);
  if (!stmt.ok()) return stmt.error();
  BindAll(*stmt, args...);
  std::vector<T> out;
  while (true) {
    auto row = stmt->Step();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    auto value = decode(*stmt);
    if (!value.ok()) return value.error();
    out.push_back(std::move(value.value()));
  }
}

// "SELECT <member columns> FROM members m": a WHERE clause on m may follow.
extern const char kSelectMembers[];
// A row of kSelectMembers; the subnets are derived from their indices.
Result<Member> MemberFromRow(const SqliteStatement& row,
                             const OverlayParams& params);

// "SELECT <token columns> FROM tokens": a WHERE clause may follow.
extern const char kSelectTokens[];
Result<TokenRecord> TokenFromRow(const SqliteStatement& row);

// "SELECT <name columns> FROM names": a WHERE clause may follow.
extern const char kSelectNames[];
Result<DnsRecord> NameFromRow(const SqliteStatement& row);

// The overlay's parameters from the meta row; ENOENT when there is none
// (not initialised).
Result<OverlayParams> ReadParams(SqliteDb& db);

}  // namespace zl::overlay
