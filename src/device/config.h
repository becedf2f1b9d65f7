#pragma once
// The device's control API: what `wg set` / UAPI `set=1` can ask for
// (ConfigRequest), and what `wg show` / UAPI `get=1` reports (DeviceState).
//
// These types are the contract between the UAPI codec (uapi/), the overlay
// daemon (overlay/) and the device. They do not expose the protocol core.
//
// Thread safety: plain values. ControlApi implementations are thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/ip.h"
#include "base/result.h"
#include "crypto/keys.h"

namespace zl::device {

// One `public_key=` block of a set request, in the order the keys came.
struct PeerConfig {
  crypto::PublicKey public_key;
  bool remove = false;
  bool update_only = false;
  std::optional<crypto::PresharedKey> preshared_key;  // all zero clears it
  std::optional<Endpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive_interval;  // seconds; 0 = off
  bool replace_allowed_ips = false;
  std::vector<Cidr> allowed_ips;
};

struct ConfigRequest {
  std::optional<crypto::PrivateKey> private_key;  // all zero clears it
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;  // 0 clears it
  bool replace_peers = false;
  std::vector<PeerConfig> peers;
};

struct PeerState {
  crypto::PublicKey public_key;
  crypto::PresharedKey preshared_key;  // all zero = none
  std::optional<Endpoint> endpoint;
  uint16_t persistent_keepalive_interval = 0;
  std::vector<Cidr> allowed_ips;
  std::optional<WallTime> last_handshake;  // absolute wall-clock time
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};

struct DeviceState {
  std::optional<crypto::PrivateKey> private_key;
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<PeerState> peers;
};

// Implemented by the device. Apply() validates the whole request before it
// changes anything it can check up front (keys, addresses); an error from the
// OS (e.g. the new listen port is taken) is reported with its errno and the
// rest of the request is still applied, as wireguard-go does.
// Snapshot() fails (ESHUTDOWN while the device shuts down, ETIMEDOUT when
// the device did not get to the call in time) rather than report an empty
// state: a caller must never mistake "unknown" for "no key, no peers".
class ControlApi {
 public:
  virtual ~ControlApi() = default;
  virtual Result<void> Apply(const ConfigRequest& request) = 0;
  virtual Result<DeviceState> Snapshot() = 0;
};

}  // namespace zl::device
