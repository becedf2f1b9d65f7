#pragma once
// The Store (store.h) on an embedded SQLite database: the control node's
// default backend (DESIGN.md §5).
//
// Durability and concurrency:
//   - WAL journal, so readers (watch long-polls, snapshots) never wait for
//     the writer and the writer never waits for them;
//   - synchronous=FULL: every commit is on disk (WAL fsynced) before the call
//     returns. NORMAL would also never corrupt the database in WAL mode, but a
//     power cut could lose the last commits after their caller had acted on
//     them: a printed token, or a subnet handed to a node that the store then
//     gives again to the next one. One fsync per join is cheap at control-
//     plane rates;
//   - every mutation is one BEGIN IMMEDIATE transaction: it takes the write
//     lock first, so concurrent writers (threads or processes, each with its
//     own connection) queue on the busy timeout instead of failing, and a
//     subnet is chosen and inserted under that lock. The schema's UNIQUE
//     (family, idx) constraint still refuses a second owner of a subnet if
//     code ever got that wrong;
//   - foreign keys on: a subnet belongs to exactly one member or one pending
//     token, and goes with it.
//
// Files: the database and its -wal and -shm files are mode 0600 (SQLite
// gives the side files the database file's mode, and OpenSqliteStore creates
// that file with 0600 and tightens an existing one; no process-wide umask
// change, which would race with other threads). The directory must exist.
//
// Opening refuses, with EIO and a message saying why, a file that is not a
// SQLite database, is corrupt (quick_check), belongs to another application,
// or carries a schema version this build does not know (a newer one): the
// daemon must refuse to start rather than start afresh. An empty or new file
// gets the schema.
//
// Thread safety: as store.h; one connection per store object, used under
// its mutex.

#include <cstddef>
#include <memory>
#include <string>

#include "base/result.h"
#include "overlay/store.h"

namespace zl::overlay {

struct SqliteStoreOptions {
  // Changes kept for ChangesSince; older watchers resync in full.
  size_t change_log_limit = 10000;
  // How long a call waits for another connection's write lock.
  int busy_timeout_ms = 10000;
  // Create the file if missing. The daemon passes false when its state says
  // the store exists, so a lost file is an error, not a new overlay.
  bool create = true;
};

// The schema version this build writes and reads (PRAGMA user_version).
inline constexpr int kSqliteSchemaVersion = 1;

Result<std::unique_ptr<Store>> OpenSqliteStore(
    const std::string& path, const SqliteStoreOptions& options);
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace zl::overlay
