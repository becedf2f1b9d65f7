#pragma once
// The node's state directory and the files in it (DESIGN.md §5).
//
//   DIR/                 mode 0700, created on first use
//   DIR/identity.key     the node's WireGuard private key, base64, mode 0600
//   DIR/node.json        role, name, overlay, cached membership (node_state.h)
//   DIR/store.db         the SQLite store, on the control node
//   DIR/control.sock     the local API, mode 0600
//
// Every write is atomic: a temporary file in the same directory (mode 0600
// from creation), written and fsync'ed, renamed over the target, then the
// directory fsync'ed. A reader sees the old file or the new one, never half
// of either. Files holding secrets are read into wiping types only.
//
// Thread safety: functions, no shared state; two writers of the same file
// must be serialised by the caller (the last rename wins).

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "crypto/secret_string.h"

namespace zl::overlay {

inline constexpr std::string_view kDefaultStateDir = "/var/lib/zlayer-overlay";

// Creates `dir` (and missing parents) with mode 0700; an existing directory
// must be a directory owned by us and not writable by group or others
// (EPERM with the reason otherwise).
Result<void> EnsureStateDir(const std::string& dir);

// Atomically replaces `path` with `contents`, mode 0600.
Result<void> WriteFileAtomic(const std::string& path, std::string_view contents);
// The whole file; ENOENT when missing. Refuses files over `max_bytes` (EFBIG).
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 16 << 20);
// As ReadFile, into a wiping string, for files that hold secrets.
Result<crypto::SecretString> ReadSecretFile(const std::string& path);

// Loads DIR/identity.key, or creates it with a new key when it is missing.
// A present but unreadable or malformed file is an error (EINVAL), never
// silently replaced; so is a key file readable by group or others.
Result<crypto::PrivateKey> LoadOrCreateIdentity(const std::string& dir, crypto::Rng& rng,
                                                bool* created = nullptr);

std::string IdentityPath(const std::string& dir);
std::string NodeStatePath(const std::string& dir);
std::string StorePath(const std::string& dir);
std::string ControlSocketPath(const std::string& dir);

}  // namespace zl::overlay
