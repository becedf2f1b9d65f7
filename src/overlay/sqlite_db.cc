#include "overlay/sqlite_db.h"

#include <utility>

namespace zl::overlay {
namespace {

int ErrnoFor(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return EEXIST;
    case SQLITE_BUSY:
    case SQLITE_BUSY_RECOVERY:
    case SQLITE_BUSY_SNAPSHOT:
    case SQLITE_BUSY_TIMEOUT:
    case SQLITE_LOCKED:
      return EBUSY;
    default:
      return (rc & 0xff) == SQLITE_CONSTRAINT ? EINVAL : EIO;
  }
}

}  // namespace

Result<SqliteDb> SqliteDb::Open(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  SqliteDb out(db);  // closes even a failed handle
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return MakeError(ErrnoFor(rc), "cannot open " + path + ": " + message);
  }
  sqlite3_extended_result_codes(db, 1);
  return out;
}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

Result<void> SqliteDb::Exec(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return LastError(rc, "database error");
  return Ok();
}

Error SqliteDb::LastError(int rc, std::string_view what) const {
  // The connection's message can belong to an earlier call when `rc` came
  // from elsewhere (a bind); sqlite3_errstr always matches `rc`.
  const char* message = sqlite3_extended_errcode(db_) == rc
                            ? sqlite3_errmsg(db_)
                            : sqlite3_errstr(rc);
  return MakeError(ErrnoFor(rc), std::string(what) + ": " + message);
}

Result<SqliteStatement> SqliteStatement::Prepare(SqliteDb& db,
                                                 std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc =
      sqlite3_prepare_v2(db.get(), sql.data(), int(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return db.LastError(rc, "database error (prepare)");
  }
  return SqliteStatement(db, stmt);
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_rc_(other.bind_rc_) {}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

void SqliteStatement::NoteBind(int rc) {
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, std::string_view text) {
  NoteBind(sqlite3_bind_text(stmt_, index, text.data(), int(text.size()),
                             SQLITE_TRANSIENT));
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, ByteSpan blob) {
  NoteBind(sqlite3_bind_blob(stmt_, index, blob.data(), int(blob.size()),
                             SQLITE_TRANSIENT));
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index,
                                       const std::optional<std::string>& text) {
  return text ? Bind(index, std::string_view(*text)) : BindNull(index);
}

SqliteStatement& SqliteStatement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index));
  return *this;
}

Result<bool> SqliteStatement::Step() {
  if (bind_rc_ != SQLITE_OK) {
    return db_->LastError(bind_rc_, "database error (bind)");
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->LastError(rc, "database error");
}

Result<void> SqliteStatement::Run() {
  while (true) {
    auto row = Step();
    if (!row.ok()) return row.error();
    if (!*row) return Ok();
  }
}

int SqliteStatement::Changes() const { return sqlite3_changes(db_->get()); }

bool SqliteStatement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t SqliteStatement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string SqliteStatement::Text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string(reinterpret_cast<const char*>(p), size_t(n))
           : std::string();
}

std::optional<std::string> SqliteStatement::OptionalText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Text(column);
}

std::vector<uint8_t> SqliteStatement::Blob(int column) const {
  const auto* p =
      static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, column));
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>();
}

Result<SqliteTransaction> SqliteTransaction::Begin(SqliteDb& db, Mode mode) {
  ZL_RETURN_IF_ERROR(
      db.Exec(mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
  return SqliteTransaction(db);
}

SqliteTransaction::~SqliteTransaction() {
  // A failed statement may already have ended the transaction; ROLLBACK then
  // fails harmlessly.
  if (db_ && !sqlite3_get_autocommit(db_->get())) {
    sqlite3_exec(db_->get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Result<void> SqliteTransaction::Commit() {
  SqliteDb* db = std::exchange(db_, nullptr);
  auto r = db->Exec("COMMIT");
  if (!r.ok() && !sqlite3_get_autocommit(db->get())) {
    sqlite3_exec(db->get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  return r;
}

}  // namespace zl::overlay
