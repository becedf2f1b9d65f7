#pragma once
// WintunAdapter: a Wintun network adapter and the one session we run on it.
//
// Open(api, name): opens the adapter `name` if it exists, else creates it in
// the pool (Wintun 0.14's "tunnel type") `ZLayer`; so opening twice, or after
// a crash left the adapter behind, is the same as opening once. It then logs
// the running driver version (verbose), reads the adapter's LUID (for IP
// Helper) and starts a session with a 4 MiB ring (kWintunRingCapacity,
// checked against Wintun's limits).
//
// Shutdown order, in the destructor:
//   1. the session is ended (WintunEndSession): its rings go away, so the
//      receive loop must have returned and no Send may be in flight;
//   2. the adapter handle is closed (WintunCloseAdapter), which also removes
//      the adapter if this object created it; one it opened stays.
// Ownership: the WintunApi (and the module behind it, WintunLibrary) must
// outlive the adapter. Thread safety: construct and destroy on one thread;
// session() follows WintunSession's rules; the accessors are immutable.
//
// Windows-only (net/ *_win files).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "net/wintun_api_win.h"
#include "net/wintun_session_win.h"

namespace zl::net {

inline constexpr char kWintunPool[] = "ZLayer";

struct WintunAdapterOptions {
  std::string pool = kWintunPool;
  uint32_t ring_capacity = kWintunRingCapacity;
};

class WintunAdapter {
 public:
  static Result<std::unique_ptr<WintunAdapter>> Open(const WintunApi& api, std::string_view name,
                                                     const WintunAdapterOptions& options = {});
  ~WintunAdapter();
  WintunAdapter(const WintunAdapter&) = delete;
  WintunAdapter& operator=(const WintunAdapter&) = delete;

  const std::string& name() const { return name_; }
  // NET_LUID's Value: the key IP Helper takes for MTU, addresses and routes.
  uint64_t luid() const { return luid_; }
  // True if Open created the adapter (and the destructor removes it).
  bool created() const { return created_; }
  // (major << 16) | minor; 0 if Wintun could not tell.
  uint32_t driver_version() const { return driver_version_; }
  WintunSession& session() { return *session_; }

 private:
  WintunAdapter(const WintunApi& api, WintunAdapterHandle handle, std::string name, bool created)
      : api_(api), handle_(handle), name_(std::move(name)), created_(created) {}

  const WintunApi& api_;
  WintunAdapterHandle handle_;
  std::string name_;
  bool created_;
  uint64_t luid_ = 0;
  uint32_t driver_version_ = 0;
  std::unique_ptr<WintunSession> session_;  // ended before handle_ is closed
};

}  // namespace zl::net
