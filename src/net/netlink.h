#pragma once
// Minimal rtnetlink (via libmnl): look up and configure a link, and watch one
// link for changes and deletion.
//
// The device watches its TUN with a LinkWatcher and shuts down when the TUN is
// deleted (wireguard-go does the same); it re-reads the MTU on kChanged.
//
// Every function acts in the network namespace of the calling thread.
// Thread safety: the free functions open a socket per call and are
// thread-safe. A LinkWatcher belongs to one thread (the event loop's).
// Ownership: LinkWatcher owns its netlink socket.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip.h"
#include "base/result.h"

struct mnl_socket;

namespace zl::net {

struct LinkInfo {
  int index = 0;
  std::string name;
  uint32_t mtu = 0;
  bool up = false;  // administratively up (IFF_UP)
};

// ENODEV when no interface has that name.
Result<int> InterfaceIndex(std::string_view name);
// ENODEV when no interface has that index.
Result<LinkInfo> GetLink(int ifindex);
// What a TUN/TAP link's IFLA_LINKINFO tells (Linux 4.15+).
struct TunLinkInfo {
  bool tap = false;          // IFF_TAP, else IFF_TUN
  bool multi_queue = false;  // created with IFF_MULTI_QUEUE
  bool persistent = false;   // TUNSETPERSIST
  uint32_t queues = 0;  // attached queues (multi-queue only; enabled or not)
};
// ENODEV when no interface has that index; nullopt when the link is not a
// TUN/TAP, or the kernel does not describe it.
Result<std::optional<TunLinkInfo>> GetTunLink(int ifindex);
Result<void> SetLinkUp(int ifindex, bool up = true);
Result<void> SetLinkMtu(int ifindex, uint32_t mtu);
// The link's transmit queue length in packets (`ip link set ... txqueuelen`);
// for a TUN, how many packets wait for the reader before the kernel drops.
Result<void> SetLinkTxQueueLen(int ifindex, uint32_t packets);
// Adds `address/prefix_len` to the link (the kernel adds the connected route
// for the prefix). Adding an address the link already has is not an error.
// IPv6 addresses are added without duplicate address detection (nodad).
Result<void> AddAddress(int ifindex, const IpAddress& address, uint8_t prefix_len);
// The source address the kernel would use on the default route (IPv4, else
// IPv6): what a node publishes as its endpoint when it is not told one. No
// packet is sent (a UDP socket is connected, then asked its local address).
// ENETUNREACH when there is no default route.
Result<IpAddress> DefaultRouteSource();
// Removes it; an address the link does not have is not an error.
Result<void> RemoveAddress(int ifindex, const IpAddress& address, uint8_t prefix_len);

struct LinkEvent {
  enum class Kind {
    kChanged,  // flags, MTU or name may have changed; `link` is current
    kDeleted,  // the link is gone (deleted or moved to another namespace)
  };
  Kind kind;
  LinkInfo link;  // for kDeleted: the last state the kernel reported
};

class LinkWatcher {
 public:
  // Subscribes to RTNLGRP_LINK and reports events about `ifindex` only.
  static Result<std::unique_ptr<LinkWatcher>> Create(int ifindex);
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  int ifindex() const { return ifindex_; }
  // Readable when notifications are waiting; watch it for kReadable.
  int fd() const;

  // Reads all pending notifications without blocking and returns those about
  // the watched link, oldest first (empty when none). If the kernel dropped
  // notifications (ENOBUFS), asks for the link's state instead, so a deletion
  // is never missed.
  Result<std::vector<LinkEvent>> ReadEvents();

 private:
  using Socket = std::unique_ptr<mnl_socket, void (*)(mnl_socket*)>;
  LinkWatcher(Socket socket, int ifindex);

  Socket socket_;
  int ifindex_;
};

}  // namespace zl::net
