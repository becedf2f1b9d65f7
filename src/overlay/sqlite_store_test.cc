// The SQLite store's behaviour, method by method (the Store contract).
#include <vector>

#include "overlay/sqlite_store_test_util.h"

namespace zl::overlay {
namespace {

using namespace store_test;  // NOLINT: the store tests' helpers

// --- initialising ---

TEST_F(SqliteStoreTest, EverythingIsENOENTBeforeInitialize) {
  EXPECT_ERRNO(store_->Params(), ENOENT);
  EXPECT_ERRNO(store_->Revision(), ENOENT);
  EXPECT_ERRNO(store_->Members(), ENOENT);
  EXPECT_ERRNO(store_->Tokens(), ENOENT);
  EXPECT_ERRNO(store_->Names(), ENOENT);
  EXPECT_ERRNO(store_->Snapshot(), ENOENT);
  EXPECT_ERRNO(store_->ChangesSince(0), ENOENT);
  EXPECT_ERRNO(store_->CreateToken(TokenId(1), "", Key(1), kNow, kNow + kHour),
               ENOENT);
  EXPECT_ERRNO(store_->FindMember("ctl"), ENOENT);
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, InitializeGivesTheControlNodeTheFirstSubnets) {
  Member m = Init();
  EXPECT_EQ(m.name, "ctl");
  EXPECT_TRUE(m.control);
  EXPECT_EQ(m.subnet4, C("10.200.0.0/24"));
  EXPECT_EQ(m.subnet6, C("fd42::/64"));
  EXPECT_EQ(m.endpoint, Ep("192.0.2.1:51820"));
  EXPECT_EQ(m.revision, 1u);
  EXPECT_EQ(Revision(), 1u);
  auto params = store_->Params();
  ASSERT_OK(params);
  EXPECT_EQ(ToJson(*params), ToJson(Params()));
  auto found = store_->FindMemberByKey(Key(1000));
  ASSERT_OK(found);
  EXPECT_EQ(ToJson(*found), ToJson(m));
  EXPECT_ERRNO(
      store_->Initialize(Params(), "ctl2", Key(1001), std::nullopt, kNow),
      EEXIST);
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, InitializeRefusesBadArguments) {
  OverlayParams bad = Params();
  bad.node_prefix4 = 8;
  EXPECT_ERRNO(store_->Initialize(bad, "ctl", Key(1), std::nullopt, kNow),
               EINVAL);
  EXPECT_ERRNO(store_->Initialize(Params(), "Ctl", Key(1), std::nullopt, kNow),
               EINVAL);
  EXPECT_ERRNO(store_->Initialize(Params(), "ctl", crypto::PublicKey(),
                                  std::nullopt, kNow),
               EINVAL);
  EXPECT_ERRNO(
      store_->Initialize(Params(), "ctl", Key(1), Ep("0.0.0.0:1"), kNow),
      EINVAL);
  EXPECT_ERRNO(store_->Params(), ENOENT);
}

TEST_F(SqliteStoreTest, WorksWithoutIpv6) {
  OverlayParams p = Params();
  p.cidr6.reset();
  Member ctl = Init(p);
  EXPECT_FALSE(ctl.subnet6.has_value());
  TokenRecord t = Token(1);
  EXPECT_EQ(t.subnet4, C("10.200.1.0/24"));
  EXPECT_FALSE(t.subnet6.has_value());
  auto m = store_->RedeemToken(t.id, "web", Key(77), std::nullopt, kNow);
  ASSERT_OK(m);
  EXPECT_FALSE(m->subnet6.has_value());
  ASSERT_OK(store_->CheckConsistency());
}

// --- tokens ---

TEST_F(SqliteStoreTest, CreateTokenReservesTheNextSubnets) {
  Init();
  TokenRecord a = Token(1, "web");
  EXPECT_EQ(a.id, TokenId(1));
  EXPECT_EQ(a.node_name, "web");
  EXPECT_EQ(a.onetime_public_key, Key(1));
  EXPECT_EQ(a.subnet4, C("10.200.1.0/24"));
  EXPECT_EQ(a.subnet6, C("fd42:0:0:1::/64"));
  EXPECT_EQ(a.created_at, kNow);
  EXPECT_EQ(a.expires_at, kNow + kHour);
  EXPECT_EQ(a.state, TokenRecord::State::kPending);
  TokenRecord b = Token(2);
  EXPECT_EQ(b.subnet4, C("10.200.2.0/24"));
  EXPECT_EQ(b.subnet6, C("fd42:0:0:2::/64"));
  // Tokens do not change the membership revision.
  EXPECT_EQ(Revision(), 1u);

  auto found = store_->FindToken(a.id);
  ASSERT_OK(found);
  EXPECT_EQ(ToJson(*found), ToJson(a));
  EXPECT_ERRNO(store_->FindToken(TokenId(99)), ENOENT);
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, TokensAreListedNewestFirst) {
  Init();
  for (uint32_t i = 1; i <= 3; ++i) {
    ASSERT_OK(
        store_->CreateToken(TokenId(i), "", Key(i), kNow + i, kNow + kHour));
  }
  auto tokens = store_->Tokens();
  ASSERT_OK(tokens);
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].id, TokenId(3));
  EXPECT_EQ((*tokens)[2].id, TokenId(1));
}

TEST_F(SqliteStoreTest, CreateTokenRefusals) {
  Init();
  Token(1, "web");
  Join(2, "db");
  ASSERT_OK(store_->RegisterName(AddressRecord("files", "10.200.9.9")));
  struct Case {
    const char* what;
    std::string id;
    const char* name;
    crypto::PublicKey key;
    int64_t expires_at;
    int err;
  };
  const Case cases[] = {
      {"bad id", "xyz", "", Key(3), kNow + kHour, EINVAL},
      {"bad name", TokenId(3), "Bad", Key(3), kNow + kHour, EINVAL},
      {"zero key", TokenId(3), "", crypto::PublicKey(), kNow + kHour, EINVAL},
      {"expires at once", TokenId(3), "", Key(3), kNow, EINVAL},
      {"id taken", TokenId(1), "", Key(3), kNow + kHour, EEXIST},
      {"one-time key taken", TokenId(3), "", Key(1), kNow + kHour, EEXIST},
      {"member's key", TokenId(3), "", Key(502), kNow + kHour, EEXIST},
      {"member's name", TokenId(3), "db", Key(3), kNow + kHour, EEXIST},
      {"control's name", TokenId(3), "ctl", Key(3), kNow + kHour, EEXIST},
      {"pending token's name", TokenId(3), "web", Key(3), kNow + kHour, EEXIST},
      {"registered name", TokenId(3), "files", Key(3), kNow + kHour, EEXIST},
  };
  for (const auto& c : cases) {
    auto r = store_->CreateToken(c.id, c.name, c.key, kNow, c.expires_at);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().code(), c.err) << c.what << ": " << r.error().message();
  }
  // Nothing was reserved by the refusals.
  TokenRecord next = Token(3);
  EXPECT_EQ(next.subnet4, C("10.200.3.0/24"));
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, RevokeTokenReleasesItsSubnets) {
  Init();
  TokenRecord a = Token(1, "web");
  auto revoked = store_->RevokeToken(a.id);
  ASSERT_OK(revoked);
  EXPECT_EQ(revoked->state, TokenRecord::State::kRevoked);
  EXPECT_EQ(store_->FindToken(a.id)->state, TokenRecord::State::kRevoked);
  EXPECT_ERRNO(store_->RevokeToken(a.id), EKEYREVOKED);
  EXPECT_ERRNO(store_->RevokeToken(TokenId(42)), ENOENT);
  // The subnet and the name are free again.
  TokenRecord b = Token(2, "web");
  EXPECT_EQ(b.subnet4, a.subnet4);
  EXPECT_EQ(b.subnet6, a.subnet6);
  ASSERT_OK(store_->RedeemToken(b.id, "web", Key(77), std::nullopt, kNow));
  EXPECT_ERRNO(store_->RevokeToken(b.id), EALREADY);
  ASSERT_OK(store_->CheckConsistency());
}

// --- redeeming ---

TEST_F(SqliteStoreTest, RedeemTokenAddsTheMemberWithTheReservedSubnets) {
  Init();
  TokenRecord t = Token(1, "web");
  auto m = store_->RedeemToken(t.id, "web", Key(77), Ep("[2001:db8::7]:51820"),
                               kNow + 5);
  ASSERT_OK(m);
  EXPECT_EQ(m->name, "web");
  EXPECT_EQ(m->public_key, Key(77));
  EXPECT_EQ(m->subnet4, t.subnet4);
  EXPECT_EQ(m->subnet6, t.subnet6);
  EXPECT_EQ(m->endpoint, Ep("[2001:db8::7]:51820"));
  EXPECT_FALSE(m->control);
  EXPECT_EQ(m->joined_at, kNow + 5);
  EXPECT_EQ(m->revision, 2u);
  EXPECT_EQ(Revision(), 2u);
  auto token = store_->FindToken(t.id);
  ASSERT_OK(token);
  EXPECT_EQ(token->state, TokenRecord::State::kUsed);
  EXPECT_EQ(token->used_by, "web");
  auto stored = store_->FindMember("web");
  ASSERT_OK(stored);
  EXPECT_EQ(ToJson(*stored), ToJson(*m));
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, RedeemTokenRefusalsChangeNothing) {
  Init();
  Join(1, "web");
  Token(2);                 // pending, any name
  Token(3, "db");           // pending, for "db"
  Token(4, "", kNow + 10);  // expires soon
  Token(5);
  ASSERT_OK(store_->RevokeToken(TokenId(5)));
  const uint64_t revision = Revision();
  auto members = store_->Members();
  ASSERT_OK(members);

  struct Case {
    const char* what;
    std::string id;
    std::string name;
    crypto::PublicKey key;
    int64_t now;
    int code;
  };
  const Case cases[] = {
      {"used", TokenId(1), "other", Key(601), kNow, EALREADY},
      {"revoked", TokenId(5), "other", Key(601), kNow, EKEYREVOKED},
      {"expired", TokenId(4), "other", Key(601), kNow + 10, EKEYEXPIRED},
      {"unknown", TokenId(99), "other", Key(601), kNow, ENOENT},
      {"name mismatch", TokenId(3), "other", Key(601), kNow, EINVAL},
      {"member name taken", TokenId(2), "web", Key(601), kNow, EEXIST},
      {"control name taken", TokenId(2), "ctl", Key(601), kNow, EEXIST},
      {"name reserved by token 3", TokenId(2), "db", Key(601), kNow, EEXIST},
      {"member key taken", TokenId(2), "other", Key(501), kNow, EEXIST},
      {"control key taken", TokenId(2), "other", Key(1000), kNow, EEXIST},
      {"one-time key reused", TokenId(2), "other", Key(2), kNow, EINVAL},
      {"bad name", TokenId(2), "Other", Key(601), kNow, EINVAL},
      {"reserved name", TokenId(2), "leader", Key(601), kNow, EINVAL},
      {"zero key", TokenId(2), "other", crypto::PublicKey(), kNow, EINVAL},
  };
  for (const auto& c : cases) {
    auto r = store_->RedeemToken(c.id, c.name, c.key, std::nullopt, c.now);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().code(), c.code)
        << c.what << ": " << r.error().message();
  }
  EXPECT_EQ(Revision(), revision);
  EXPECT_EQ(store_->Members()->size(), members->size());
  EXPECT_EQ(store_->FindToken(TokenId(2))->state, TokenRecord::State::kPending);
  EXPECT_EQ(store_->FindToken(TokenId(4))->state, TokenRecord::State::kPending);
  ASSERT_OK(store_->CheckConsistency());
  // The named token still works for its name.
  ASSERT_OK(
      store_->RedeemToken(TokenId(3), "db", Key(602), std::nullopt, kNow));
}

TEST_F(SqliteStoreTest, ExpiredTokensGiveTheirSubnetsAndNamesBack) {
  Init();
  TokenRecord a = Token(1, "web", kNow + 10);
  Token(2);
  // A token created after a's expiry takes a's subnet, the lowest free.
  auto b =
      store_->CreateToken(TokenId(3), "web", Key(3), kNow + 10, kNow + kHour);
  ASSERT_OK(b);
  EXPECT_EQ(b->subnet4, a.subnet4);
  EXPECT_ERRNO(
      store_->RedeemToken(a.id, "web", Key(77), std::nullopt, kNow + 5),
      EKEYEXPIRED);
  ASSERT_OK(store_->CheckConsistency());
}

// --- subnets ---

TEST_F(SqliteStoreTest, SubnetsComeBackLowestFirst) {
  Init();
  Join(1, "a");             // .1
  Token(2);                 // .2
  Token(3, "", kNow + 10);  // .3, expires
  Join(4, "d");             // .4
  Token(5);                 // .5
  ASSERT_OK(store_->RevokeToken(TokenId(2)));
  ASSERT_OK(store_->RemoveMember("a"));
  // Free now: 1 (removed), 2 (revoked); 3 after expiry.
  std::vector<std::string> got;
  for (uint32_t i = 6; i <= 9; ++i) {
    auto t =
        store_->CreateToken(TokenId(i), "", Key(i), kNow + 10, kNow + kHour);
    ASSERT_OK(t);
    got.push_back(t->subnet4.ToString() + " " + t->subnet6->ToString());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"10.200.1.0/24 fd42:0:0:1::/64",
                                           "10.200.2.0/24 fd42:0:0:2::/64",
                                           "10.200.3.0/24 fd42:0:0:3::/64",
                                           "10.200.6.0/24 fd42:0:0:6::/64"}));
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, FullPoolIsENOSPCUntilASubnetIsReleased) {
  Init(TinyParams());  // 4 subnets per family; the control node has one
  for (uint32_t i = 1; i <= 3; ++i) Token(i);
  auto full = store_->CreateToken(TokenId(4), "", Key(4), kNow, kNow + kHour);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code(), ENOSPC);
  EXPECT_NE(full.error().message().find("192.168.7.0/24 is full"),
            std::string::npos)
      << full.error().message();
  ASSERT_OK(store_->RevokeToken(TokenId(2)));
  TokenRecord again = Token(4);
  EXPECT_EQ(again.subnet4, C("192.168.7.128/26"));
  EXPECT_EQ(again.subnet6, C("fd42:0:0:2::/64"));
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, FullIpv6PoolIsENOSPCToo) {
  OverlayParams p = TinyParams();
  p.node_prefix4 = 28;       // 16 IPv4 subnets
  p.cidr6 = C("fd42::/63");  // 2 IPv6 subnets
  Init(p);
  Token(1);
  EXPECT_ERRNO(store_->CreateToken(TokenId(2), "", Key(2), kNow, kNow + kHour),
               ENOSPC);
  ASSERT_OK(store_->CheckConsistency());
}

// --- members ---

TEST_F(SqliteStoreTest, UpdateEndpointBumpsTheRevisionOnlyWhenItChanges) {
  Init();
  Join(1, "web");
  const uint64_t before = Revision();
  auto same = store_->UpdateEndpoint("web", Ep("192.0.2.9:51820"));
  ASSERT_OK(same);
  EXPECT_EQ(Revision(), before);
  auto moved = store_->UpdateEndpoint("web", Ep("198.51.100.1:4000"));
  ASSERT_OK(moved);
  EXPECT_EQ(moved->endpoint, Ep("198.51.100.1:4000"));
  EXPECT_EQ(moved->revision, before + 1);
  EXPECT_EQ(Revision(), before + 1);
  auto cleared = store_->UpdateEndpoint("web", std::nullopt);
  ASSERT_OK(cleared);
  EXPECT_FALSE(store_->FindMember("web")->endpoint.has_value());
  EXPECT_ERRNO(store_->UpdateEndpoint("nobody", std::nullopt), ENOENT);
  EXPECT_ERRNO(store_->UpdateEndpoint("web", Ep("192.0.2.1:0")), EINVAL);
}

TEST_F(SqliteStoreTest, RemoveMember) {
  Init();
  Member web = Join(1, "web");
  EXPECT_ERRNO(store_->RemoveMember("ctl"), EINVAL);
  EXPECT_ERRNO(store_->RemoveMember("nobody"), ENOENT);
  auto removed = store_->RemoveMember("web");
  ASSERT_OK(removed);
  EXPECT_EQ(removed->subnet4, web.subnet4);
  EXPECT_ERRNO(store_->FindMember("web"), ENOENT);
  EXPECT_ERRNO(store_->FindMemberByKey(web.public_key), ENOENT);
  EXPECT_ERRNO(store_->RemoveMember("web"), ENOENT);
  // The name and key may join again.
  Token(2);
  ASSERT_OK(store_->RedeemToken(TokenId(2), "web", web.public_key, std::nullopt,
                                kNow));
  ASSERT_OK(store_->CheckConsistency());
}

// --- names ---

TEST_F(SqliteStoreTest, NamesAreRegisteredReplacedAndUnregistered) {
  Init();
  Join(1, "web");
  auto a = store_->RegisterName(AddressRecord("files", "10.200.1.7"));
  ASSERT_OK(a);
  EXPECT_EQ(a->revision, Revision());
  // The same record again: nothing changes.
  const uint64_t before = Revision();
  ASSERT_OK(store_->RegisterName(AddressRecord("files", "10.200.1.7")));
  EXPECT_EQ(Revision(), before);
  // A new address replaces the old one; never a second record.
  ASSERT_OK(store_->RegisterName(AddressRecord("files", "fd42:0:0:1::7")));
  DnsRecord srv;
  srv.name = "_http._tcp.web";
  srv.target = "web";
  srv.port = 8080;
  ASSERT_OK(store_->RegisterName(srv));
  auto names = store_->Names();
  ASSERT_OK(names);
  ASSERT_EQ(names->size(), 2u);
  EXPECT_EQ((*names)[0].name, "_http._tcp.web");
  EXPECT_EQ((*names)[0].port, 8080);
  EXPECT_EQ((*names)[1].name, "files");
  EXPECT_EQ((*names)[1].address, *IpAddress::Parse("fd42:0:0:1::7"));

  EXPECT_ERRNO(store_->RegisterName(AddressRecord("web", "10.0.0.1")), EINVAL);
  EXPECT_ERRNO(store_->RegisterName(AddressRecord("Files", "10.0.0.1")),
               EINVAL);
  Token(2, "db");
  EXPECT_ERRNO(store_->RegisterName(AddressRecord("db", "10.0.0.1")), EINVAL);

  ASSERT_OK(store_->UnregisterName("files"));
  EXPECT_ERRNO(store_->UnregisterName("files"), ENOENT);
  EXPECT_ERRNO(store_->UnregisterName("Bad Name"), EINVAL);
  EXPECT_EQ(store_->Names()->size(), 1u);
  ASSERT_OK(store_->CheckConsistency());
}

// --- watching ---

TEST_F(SqliteStoreTest, ChangesSinceGivesTheDeltas) {
  Init();                                                             // 1: ctl
  Join(1, "web");                                                     // 2: web
  ASSERT_OK(store_->UpdateEndpoint("web", Ep("198.51.100.1:4000")));  // 3: web
  ASSERT_OK(store_->RegisterName(AddressRecord("files", "10.200.1.7")));  // 4
  ASSERT_OK(store_->RemoveMember("web"));                                 // 5
  ASSERT_OK(store_->UnregisterName("files"));                             // 6
  EXPECT_EQ(Revision(), 6u);

  auto all = store_->ChangesSince(0);
  ASSERT_OK(all);
  EXPECT_FALSE(all->full_resync);
  EXPECT_EQ(all->revision, 6u);
  ASSERT_EQ(all->changes.size(), 6u);
  const Change::Kind kinds[] = {
      Change::Kind::kMemberUpsert,  Change::Kind::kMemberUpsert,
      Change::Kind::kMemberUpsert,  Change::Kind::kNameUpsert,
      Change::Kind::kMemberRemoved, Change::Kind::kNameRemoved};
  const char* names[] = {"ctl", "web", "web", "files", "web", "files"};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(all->changes[i].revision, i + 1);
    EXPECT_EQ(all->changes[i].kind, kinds[i]) << i;
    EXPECT_EQ(all->changes[i].name, names[i]) << i;
  }
  ASSERT_TRUE(all->changes[2].member.has_value());
  EXPECT_EQ(all->changes[2].member->endpoint, Ep("198.51.100.1:4000"));
  EXPECT_EQ(all->changes[2].member->revision, 3u);
  ASSERT_TRUE(all->changes[3].record.has_value());
  EXPECT_EQ(all->changes[3].record->address, *IpAddress::Parse("10.200.1.7"));
  // The wire form of a store delta passes the strict reader.
  ASSERT_OK(DeltaFromJson(ToJson(*all)));

  auto tail = store_->ChangesSince(4);
  ASSERT_OK(tail);
  ASSERT_EQ(tail->changes.size(), 2u);
  EXPECT_EQ(tail->changes[0].revision, 5u);

  auto none = store_->ChangesSince(6);
  ASSERT_OK(none);
  EXPECT_FALSE(none->full_resync);
  EXPECT_TRUE(none->changes.empty());

  auto ahead = store_->ChangesSince(7);  // the store was replaced
  ASSERT_OK(ahead);
  EXPECT_TRUE(ahead->full_resync);
  EXPECT_TRUE(ahead->changes.empty());
  EXPECT_EQ(ahead->revision, 6u);
}

TEST_F(SqliteStoreTest, TooOldRevisionsNeedAFullResync) {
  SqliteStoreOptions options;
  options.change_log_limit = 3;
  store_ = Open(options);
  Init();
  for (uint32_t i = 1; i <= 5; ++i) {
    Join(i, "n" + std::to_string(i));  // revisions 2..6
  }
  EXPECT_EQ(Revision(), 6u);
  auto old = store_->ChangesSince(2);  // needs 3..6, but only 4..6 are kept
  ASSERT_OK(old);
  EXPECT_TRUE(old->full_resync);
  EXPECT_TRUE(old->changes.empty());
  auto recent = store_->ChangesSince(3);
  ASSERT_OK(recent);
  EXPECT_FALSE(recent->full_resync);
  EXPECT_EQ(recent->changes.size(), 3u);
  ASSERT_OK(store_->CheckConsistency());
}

TEST_F(SqliteStoreTest, SnapshotIsEverythingAtOneRevision) {
  Init();
  Join(2, "web");
  Join(1, "db");
  Token(3);
  ASSERT_OK(store_->RegisterName(AddressRecord("files", "10.200.1.7")));
  auto s = store_->Snapshot();
  ASSERT_OK(s);
  EXPECT_EQ(s->revision, Revision());
  ASSERT_EQ(s->members.size(), 3u);
  EXPECT_EQ(s->members[0].name, "ctl");
  EXPECT_EQ(s->members[1].name, "db");
  EXPECT_EQ(s->members[2].name, "web");
  ASSERT_EQ(s->names.size(), 1u);
  auto back = SnapshotFromJson(ToJson(*s));  // passes the strict reader
  ASSERT_OK(back);
  EXPECT_EQ(ToJson(*back), ToJson(*s));
}

}  // namespace
}  // namespace zl::overlay
