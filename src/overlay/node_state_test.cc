#include "overlay/node_state.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "overlay/state_files.h"

namespace zl::overlay {
namespace {

crypto::PublicKey Key(uint8_t b) {
  uint8_t bytes[32] = {};
  bytes[31] = b;
  return crypto::PublicKey(ByteSpan(bytes, 32));
}

NodeState Sample() {
  NodeState s;
  s.role = NodeState::Role::kMember;
  s.params.cidr4 = *Cidr::Parse("10.200.0.0/16");
  s.params.cidr6 = *Cidr::Parse("fd42::/48");
  Member self;
  self.name = "alpha";
  self.public_key = Key(1);
  self.subnet4 = *Cidr::Parse("10.200.1.0/24");
  self.subnet6 = *Cidr::Parse("fd42:0:0:1::/64");
  self.endpoint = *Endpoint::Parse("192.0.2.2:51820");
  self.revision = 3;
  Member control = self;
  control.name = "ctl";
  control.public_key = Key(2);
  control.subnet4 = *Cidr::Parse("10.200.0.0/24");
  control.subnet6 = *Cidr::Parse("fd42::/64");
  control.control = true;
  s.self = self;
  s.control_public_key = Key(2);
  s.control_endpoints = {*Endpoint::Parse("192.0.2.1:51820")};
  s.control_address = *IpAddress::Parse("10.200.0.1");
  s.revision = 7;
  s.members = {control, self};
  DnsRecord web;
  web.name = "web";
  web.address = *IpAddress::Parse("10.200.1.1");
  s.names = {web};
  return s;
}

TEST(NodeStateTest, RoundTripKeepsEverything) {
  const NodeState s = Sample();
  auto back = ParseNodeState(SerializeNodeState(s));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->role, s.role);
  EXPECT_EQ(back->params.cidr4, s.params.cidr4);
  EXPECT_EQ(back->params.cidr6, s.params.cidr6);
  EXPECT_EQ(back->self.name, "alpha");
  EXPECT_EQ(back->self.public_key, Key(1));
  EXPECT_EQ(back->self.endpoint, s.self.endpoint);
  EXPECT_EQ(back->control_public_key, Key(2));
  EXPECT_EQ(back->control_endpoints, s.control_endpoints);
  EXPECT_EQ(back->control_address, s.control_address);
  EXPECT_EQ(back->revision, 7u);
  ASSERT_EQ(back->members.size(), 2u);
  EXPECT_TRUE(back->members[0].control);
  ASSERT_EQ(back->names.size(), 1u);
  EXPECT_EQ(back->names[0].address, s.names[0].address);
}

TEST(NodeStateTest, SerializedStateHoldsNoPrivateMaterial) {
  const std::string text = SerializeNodeState(Sample());
  EXPECT_EQ(text.find("private"), std::string::npos);
}

TEST(NodeStateTest, DamagedFilesAreRefusedWithAReason) {
  const std::string good = SerializeNodeState(Sample());
  const std::vector<std::string> bad = {
      "",
      "{",
      "[]",
      good.substr(0, good.size() / 2),                           // half-written
      R"({"version": 2})",                                       // unknown version
  };
  for (const std::string& text : bad) {
    auto r = ParseNodeState(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), EINVAL);
    }
  }
  std::string wrong_role = good;
  wrong_role.replace(wrong_role.find("\"member\""), 8, "\"admin\"");
  EXPECT_FALSE(ParseNodeState(wrong_role).ok());
}

TEST(NodeStateTest, LoadSaveRemoveThroughTheStateDirectory) {
  char tmpl[] = "/tmp/zl-node-state.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto none = LoadNodeState(dir);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(SaveNodeState(dir, Sample()).ok());
  auto loaded = LoadNodeState(dir);
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->self.name, "alpha");
  ASSERT_TRUE(WriteFileAtomic(NodeStatePath(dir), "{\"version\": 1, \"role\": ").ok());
  auto corrupt = LoadNodeState(dir);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.error().message().find("node.json"), std::string::npos);
  ASSERT_TRUE(RemoveNodeState(dir).ok());
  auto gone = LoadNodeState(dir);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace zl::overlay
