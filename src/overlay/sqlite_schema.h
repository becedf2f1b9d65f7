#pragma once
// The SQLite store's file and schema: opening the database file (mode 0600),
// its connection settings (WAL, synchronous=FULL, foreign keys, busy
// timeout), the integrity check at open, and creating or checking the schema
// version. sqlite_store.cc holds the queries; this file holds the tables.
//
// Tables (STRICT, so SQLite enforces the column types):
//   meta     one row: params (JSON), revision, created_at
//   members  name PRIMARY KEY, public_key UNIQUE, endpoint, control (at most
//            one control member), joined_at, revision
//   tokens   id PRIMARY KEY, node_name (UNIQUE among tokens holding
//            subnets), onetime_key UNIQUE, subnet texts (for the record),
//            times, state, used_by, holds_subnets
//   subnets  PRIMARY KEY (family, idx): one owner per subnet, a member XOR a
//            token holding subnets (foreign keys, ON DELETE CASCADE); at most
//            one subnet per family per owner
//   names    name PRIMARY KEY, address or SRV target and port, revision
//   changes  revision PRIMARY KEY, kind, name, payload (JSON), trimmed
//
// Thread safety: free functions on a connection the caller owns.

#include <string>

#include "base/result.h"
#include "overlay/sqlite_db.h"

namespace zl::overlay {

// Opens `path`, creating the file and the schema when `create` and the file
// is missing or empty. EIO for a corrupt or foreign file or an unknown schema
// version, ENOENT for a missing directory (or file, without `create`).
Result<SqliteDb> OpenStoreDatabase(const std::string& path, bool create,
                                   int busy_timeout_ms);

}  // namespace zl::overlay
