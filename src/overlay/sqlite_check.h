#pragma once
// The SQLite store's invariants (Store::CheckConsistency, store.h): what the
// schema's constraints cannot say by themselves.
//
//   - SQLite's own integrity_check and foreign_key_check;
//   - a store that is not initialised has no rows;
//   - every subnet is inside its pool and of a configured family; every
//     member and every token holding subnets owns exactly one per family,
//     other tokens none; a pending token holds the subnets it records;
//   - exactly one control member; every member decodes;
//   - no member, name or logged change is past the store's revision, and the
//     change log has no gaps.
//
// Thread safety: a function on a connection the caller holds, inside a read
// transaction so every check sees one state.

#include "base/result.h"
#include "overlay/sqlite_db.h"

namespace zl::overlay {

// EIO "store inconsistent: ..." with the first problem found.
Result<void> CheckStoreConsistency(SqliteDb& db);

}  // namespace zl::overlay
