#pragma once
// Shared by the SQLite store's tests: a temporary directory, sample keys,
// token ids and parameters, a fixture with a store on a fresh file, and raw
// SQL access behind the store's back.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "overlay/model_json.h"
#include "overlay/overlay_test_util.h"
#include "overlay/sqlite_store.h"

namespace zl::overlay::store_test {

inline constexpr int64_t kNow = 1700000000;
inline constexpr int64_t kHour = 3600;

using test_values::C;

inline crypto::PublicKey Key(uint32_t n) {
  crypto::PublicKey k;
  StoreLe32(k.data(), n + 1);
  k.data()[31] = 0x5a;
  return k;
}

inline std::string TokenId(uint32_t n) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016x", n);
  return buf;
}

inline OverlayParams Params() {
  OverlayParams p;
  p.cidr4 = C("10.200.0.0/16");
  p.cidr6 = C("fd42::/48");
  return p;
}

// Four /26 subnets per pool: the control node's and three more.
inline OverlayParams TinyParams() {
  OverlayParams p;
  p.cidr4 = C("192.168.7.0/24");
  p.node_prefix4 = 26;
  p.cidr6 = C("fd42::/62");
  p.node_prefix6 = 64;
  return p;
}

inline std::optional<Endpoint> Ep(const char* text) {
  return *Endpoint::Parse(text);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "zl-store-XXXXXX").string();
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

#define ASSERT_OK(expr)                                            \
  do {                                                             \
    const auto& r_ = (expr);                                       \
    ASSERT_TRUE(r_.ok()) << #expr << ": " << r_.error().message(); \
  } while (0)

#define EXPECT_ERRNO(expr, err)                     \
  do {                                              \
    const auto& r_ = (expr);                        \
    EXPECT_FALSE(r_.ok()) << #expr;                 \
    if (!r_.ok()) {                                 \
      EXPECT_EQ(r_.error().code(), err)             \
          << #expr << ": " << r_.error().message(); \
    }                                               \
  } while (0)

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Open(); }

  std::unique_ptr<Store> Open(SqliteStoreOptions options = {}) {
    auto s = OpenSqliteStore(path_, options);
    EXPECT_TRUE(s.ok()) << s.error().message();
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  Member Init(const OverlayParams& params = Params()) {
    auto m = store_->Initialize(params, "ctl", Key(1000), Ep("192.0.2.1:51820"),
                                kNow);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? *m : Member();
  }

  TokenRecord Token(uint32_t n, const std::string& name = "",
                    int64_t expires_at = kNow + kHour) {
    auto t = store_->CreateToken(TokenId(n), name, Key(n), kNow, expires_at);
    EXPECT_TRUE(t.ok()) << t.error().message();
    return t.ok() ? *t : TokenRecord();
  }

  Member Join(uint32_t n, const std::string& name) {
    Token(n);
    auto m = store_->RedeemToken(TokenId(n), name, Key(500 + n),
                                 Ep("192.0.2.9:51820"), kNow);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? *m : Member();
  }

  uint64_t Revision() {
    return store_->Revision().ok() ? *store_->Revision() : 0;
  }

  TempDir dir_;
  std::string path_ = dir_.File("store.db");
  std::unique_ptr<Store> store_;
};
inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Runs SQL on the database file directly, behind the store's back.
inline void RawSql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

inline DnsRecord AddressRecord(const char* name, const char* address) {
  DnsRecord r;
  r.name = name;
  r.address = *IpAddress::Parse(address);
  return r;
}

}  // namespace zl::overlay::store_test
