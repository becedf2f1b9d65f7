#pragma once
// Join tokens: what `token create` prints and `join` takes (DESIGN.md §5).
//
// A token is everything a new node needs to reach the control node through
// the tunnel, and nothing more:
//   - the control node's public key (pinned: the joiner accepts no other),
//     its underlay endpoint(s) and its overlay address;
//   - the overlay parameters;
//   - the subnet(s) reserved for the new node;
//   - a one-time WireGuard private key, whose public half the control node
//     has pre-registered as a pending peer allowed only that subnet;
//   - its id and expiry.
// The joiner brings its tunnel up with the one-time key and calls the
// control node's API on its overlay address with its own, freshly generated
// public key; the control node swaps the keys. So no node key and no secret
// crosses the underlay in clear text.
//
// Text form: "zlt1_" + base64url (no padding) of a versioned binary body +
// a 4-byte checksum (BLAKE2s of the body), so a mistyped or truncated token is
// told apart from a forged one. ParseJoinToken never crashes on any input and
// says what is wrong (EINVAL "malformed token: ...").
//
// The token holds a private key: JoinToken keeps it in a crypto::PrivateKey
// and its text form in a crypto::SecretString, both wiped on destruction and
// not printable.
//
// Thread safety: values.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip.h"
#include "base/result.h"
#include "crypto/keys.h"
#include "crypto/secret_string.h"
#include "overlay/model.h"

namespace zl::overlay {

inline constexpr std::string_view kTokenPrefix = "zlt1_";

struct JoinToken {
  std::string id;  // TokenRecord::id
  std::string node_name;  // may be empty
  crypto::PublicKey control_public_key;
  std::vector<Endpoint> control_endpoints;  // at least one
  IpAddress control_address;                // overlay address (v4)
  OverlayParams params;
  Cidr subnet4;
  std::optional<Cidr> subnet6;
  crypto::PrivateKey onetime_private_key;
  int64_t expires_at = 0;  // unix seconds
};

// REQUIRES: a token ParseJoinToken would accept (built from validated values:
// an id from NewTokenId, at most 8 endpoints, valid names); otherwise the
// text is refused when parsed.
crypto::SecretString EncodeJoinToken(const JoinToken& token);
// Whitespace around the text (a pasted newline) is ignored.
Result<JoinToken> ParseJoinToken(std::string_view text);

// 16 lowercase hex digits from the CSPRNG.
std::string NewTokenId();

}  // namespace zl::overlay
