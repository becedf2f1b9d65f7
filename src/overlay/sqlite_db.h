#pragma once
// SqliteDb, SqliteStatement, SqliteTransaction: a small RAII layer over the
// SQLite C API for the store (sqlite_store.h), returning Result instead of
// result codes. Nothing here knows the schema.
//
// Errors: EIO with SQLite's message, except a UNIQUE or PRIMARY KEY
// violation (EEXIST), another constraint violation (EINVAL) and a database
// locked past the busy timeout (EBUSY).
//
// Ownership: SqliteDb owns the connection; a statement or transaction
// borrows it and must not outlive it.
// Thread safety: a connection and its statements belong to one thread at a
// time (the store serialises with its mutex); connections are independent.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace zl::overlay {

class SqliteDb {
 public:
  // sqlite3_open_v2 with `flags`; extended result codes on.
  static Result<SqliteDb> Open(const std::string& path, int flags);
  SqliteDb(SqliteDb&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  sqlite3* get() const { return db_; }
  // Runs SQL that returns no rows (several statements allowed).
  Result<void> Exec(const char* sql);
  // The connection's last error, as an Error: "`what`: message".
  Error LastError(int rc, std::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

class SqliteStatement {
 public:
  static Result<SqliteStatement> Prepare(SqliteDb& db, std::string_view sql);
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Parameters are numbered from 1, as in "?1". A failed bind is reported by
  // the next Step().
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, std::string_view text);
  SqliteStatement& Bind(int index, ByteSpan blob);
  SqliteStatement& Bind(int index, const std::optional<std::string>& text);
  SqliteStatement& BindNull(int index);

  // Advances: true when a row is ready, false when done.
  Result<bool> Step();
  // Steps to the end; for statements that return no rows.
  Result<void> Run();
  // Rows changed by the last Run() (sqlite3_changes).
  int Changes() const;

  // Columns of the current row, numbered from 0.
  bool IsNull(int column) const;
  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  std::vector<uint8_t> Blob(int column) const;

 private:
  SqliteStatement(SqliteDb& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  void NoteBind(int rc);

  SqliteDb* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// A transaction that rolls back unless committed. Write transactions begin
// IMMEDIATE: they take the write lock at once (waiting up to the busy
// timeout), so two writers never both read and then fail to upgrade.
class SqliteTransaction {
 public:
  enum class Mode { kRead, kWrite };
  static Result<SqliteTransaction> Begin(SqliteDb& db, Mode mode);
  SqliteTransaction(SqliteTransaction&& other) noexcept : db_(other.db_) {
    other.db_ = nullptr;
  }
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  ~SqliteTransaction();

  Result<void> Commit();

 private:
  explicit SqliteTransaction(SqliteDb& db) : db_(&db) {}
  SqliteDb* db_;
};

}  // namespace zl::overlay
