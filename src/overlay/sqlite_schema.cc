#include "overlay/sqlite_schema.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "overlay/sqlite_store.h"

namespace zl::overlay {
namespace {

namespace fs = std::filesystem;

// PRAGMA application_id: "zlov", so a database of another program is not
// taken for ours.
constexpr int kApplicationId = 0x7a6c6f76;

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  params TEXT NOT NULL,
  revision INTEGER NOT NULL CHECK (revision >= 0),
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
  name TEXT PRIMARY KEY NOT NULL,
  public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
  endpoint TEXT,
  control INTEGER NOT NULL CHECK (control IN (0, 1)),
  joined_at INTEGER NOT NULL,
  revision INTEGER NOT NULL CHECK (revision >= 1)
) STRICT;
CREATE UNIQUE INDEX members_one_control ON members (control) WHERE control = 1;

CREATE TABLE tokens (
  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 16),
  node_name TEXT NOT NULL,
  onetime_key BLOB NOT NULL UNIQUE CHECK (length(onetime_key) = 32),
  subnet4 TEXT NOT NULL,
  subnet6 TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'used', 'revoked')),
  used_by TEXT NOT NULL,
  holds_subnets INTEGER NOT NULL CHECK (holds_subnets IN (0, 1)),
  CHECK (holds_subnets = 0 OR state = 'pending'),
  CHECK ((state = 'used') = (used_by != ''))
) STRICT;
CREATE UNIQUE INDEX tokens_live_names ON tokens (node_name)
  WHERE holds_subnets = 1 AND node_name != '';
CREATE INDEX tokens_created ON tokens (created_at);

CREATE TABLE subnets (
  family INTEGER NOT NULL CHECK (family IN (4, 6)),
  idx INTEGER NOT NULL CHECK (idx >= 0),
  member TEXT REFERENCES members (name) ON DELETE CASCADE,
  token TEXT REFERENCES tokens (id) ON DELETE CASCADE,
  PRIMARY KEY (family, idx),
  UNIQUE (member, family),
  UNIQUE (token, family),
  CHECK ((member IS NULL) != (token IS NULL))
) STRICT;

CREATE TABLE names (
  name TEXT PRIMARY KEY NOT NULL,
  address TEXT,
  target TEXT NOT NULL,
  port INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
  revision INTEGER NOT NULL CHECK (revision >= 1)
) STRICT;

CREATE TABLE changes (
  revision INTEGER PRIMARY KEY CHECK (revision >= 1),
  kind TEXT NOT NULL
    CHECK (kind IN ('member_upsert', 'member_removed', 'name_upsert', 'name_removed')),
  name TEXT NOT NULL,
  payload TEXT
) STRICT;
)sql";

// The value of a one-row, one-column pragma or query.
Result<int64_t> QueryInt(SqliteDb& db, const char* sql) {
  auto stmt = SqliteStatement::Prepare(db, sql);
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  return *row ? stmt->Int(0) : 0;
}

Result<std::string> QueryText(SqliteDb& db, const char* sql) {
  auto stmt = SqliteStatement::Prepare(db, sql);
  if (!stmt.ok()) return stmt.error();
  auto row = stmt->Step();
  if (!row.ok()) return row.error();
  return *row ? stmt->Text(0) : std::string();
}

// Makes the file exist (when allowed) with mode 0600, and tightens the mode
// of the database and its side files if they are looser.
Result<void> PrepareFiles(const std::string& path, bool create) {
  std::error_code ec;
  fs::path p(path);
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) {
    return MakeError(
        ENOENT, "the store's directory " + dir.string() + " does not exist");
  }
  auto status = fs::symlink_status(p, ec);
  if (!fs::exists(status)) {
    if (!create) {
      return MakeError(ENOENT, "the store " + path + " does not exist");
    }
    // Created empty (no data yet) and made 0600 before SQLite writes to it.
    std::ofstream(p, std::ios::app | std::ios::binary);
    status = fs::symlink_status(p, ec);
    if (!fs::exists(status)) {
      return MakeError(EIO, "cannot create the store " + path);
    }
  }
  if (!fs::is_regular_file(status)) {
    return MakeError(EIO, "the store " + path + " is not a regular file");
  }
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    auto st = fs::symlink_status(file, ec);
    if (!fs::is_regular_file(st)) continue;
    constexpr auto kGroupOther = fs::perms::group_all | fs::perms::others_all;
    if ((st.permissions() & kGroupOther) != fs::perms::none) {
      fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write,
                      fs::perm_options::replace, ec);
      if (ec) {
        return MakeError(EIO,
                         "cannot make " + file + " mode 0600: " + ec.message());
      }
    }
  }
  return Ok();
}

// Creates the schema in an empty database, or checks that the database is
// ours and of a version we know.
Result<void> CreateOrCheckSchema(SqliteDb& db, const std::string& path) {
  // IMMEDIATE: two processes opening a new file cannot both create tables.
  auto tx = SqliteTransaction::Begin(db, SqliteTransaction::Mode::kWrite);
  if (!tx.ok()) return tx.error();
  auto app = QueryInt(db, "PRAGMA application_id");
  if (!app.ok()) return app.error();
  auto version = QueryInt(db, "PRAGMA user_version");
  if (!version.ok()) return version.error();
  auto objects = QueryInt(db, "SELECT count(*) FROM sqlite_schema");
  if (!objects.ok()) return objects.error();

  if (*app == 0 && *version == 0 && *objects == 0) {
    ZL_RETURN_IF_ERROR(db.Exec(kSchemaV1));
    const std::string pragmas =
        "PRAGMA application_id = " + std::to_string(kApplicationId) +
        "; PRAGMA user_version = " + std::to_string(kSqliteSchemaVersion);
    ZL_RETURN_IF_ERROR(db.Exec(pragmas.c_str()));
    return tx->Commit();
  }
  if (*app != kApplicationId) {
    return MakeError(EIO,
                     path +
                         " is a SQLite database of another application, not a "
                         "zlayer-overlay store");
  }
  if (*version > kSqliteSchemaVersion) {
    return MakeError(
        EIO, path + " was written by a newer zlayer-overlay (schema version " +
                 std::to_string(*version) + "; this build knows up to " +
                 std::to_string(kSqliteSchemaVersion) +
                 "): refusing to open it");
  }
  if (*version != kSqliteSchemaVersion) {
    return MakeError(EIO, path + " has an unknown schema version " +
                              std::to_string(*version));
  }
  return tx->Commit();
}

Result<SqliteDb> Configure(SqliteDb db, const std::string& path,
                           int busy_timeout_ms) {
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  // The first statement reads the header: a file that is not a database
  // fails here.
  auto mode = QueryText(db, "PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.error();
  if (*mode != "wal") {
    return MakeError(EIO,
                     "cannot put " + path + " in WAL mode (" + *mode + ")");
  }
  ZL_RETURN_IF_ERROR(
      db.Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"));
  auto check = QueryText(db, "PRAGMA quick_check");
  if (!check.ok()) return check.error();
  if (*check != "ok") {
    return MakeError(EIO, "integrity check failed: " + *check);
  }
  ZL_RETURN_IF_ERROR(CreateOrCheckSchema(db, path));
  return db;
}

}  // namespace

Result<SqliteDb> OpenStoreDatabase(const std::string& path, bool create,
                                   int busy_timeout_ms) {
  ZL_RETURN_IF_ERROR(PrepareFiles(path, create));
  auto db = SqliteDb::Open(
      path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW);
  if (!db.ok()) return db.error();
  auto configured = Configure(std::move(db.value()), path, busy_timeout_ms);
  if (!configured.ok()) {
    const Error& e = configured.error();
    if (e.code() == EBUSY) return e.Wrap("the store " + path + " is locked");
    return MakeError(e.code() == ENOENT ? ENOENT : EIO,
                     "the store " + path +
                         " cannot be used (corrupt, or not a zlayer-overlay "
                         "store): " +
                         e.message());
  }
  // SQLite has created the side files by now, with the database's mode.
  ZL_RETURN_IF_ERROR(PrepareFiles(path, false));
  return configured;
}

}  // namespace zl::overlay
