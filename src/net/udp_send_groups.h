#pragma once
// PlanSendGroups: how LinuxBind (udp_bind.h) packs a run of datagrams into
// messages for UDP segmentation offload (UDP_SEGMENT, "GSO"). One message
// carries consecutive items with the same destination and the same source
// address, all of one size but the last, which may be shorter; the kernel
// (or the NIC) cuts it back into those datagrams.
//
// Pure functions over the caller's items; thread-safe.

#include <cstddef>
#include <optional>
#include <span>

#include "base/ip.h"
#include "net/bind.h"

namespace zl::net {

// The most datagrams in one segmented message: the kernel's UDP_MAX_SEGMENTS
// was 64 before Linux 6.4 (128 since).
inline constexpr size_t kMaxGsoSegments = 64;
// The most UDP payload bytes in one segmented message: the whole datagram,
// with UDP and IPv4/IPv6 headers, must fit the 16-bit IP length field.
inline constexpr size_t kMaxGsoBytes = 65000;

// One message: items [first, first + count).
struct SendGroup {
  size_t first = 0;
  size_t count = 0;
  // The size of every item but the last (the UDP_SEGMENT value); 0 when the
  // group is one item, which needs no segmentation.
  size_t segment_size = 0;

  friend bool operator==(const SendGroup&, const SendGroup&) = default;
};

// The source address the message of `item` carries: item.source when it is of
// the family of item.to (bind.h), else none.
std::optional<IpAddress> EffectiveSource(const SendItem& item);

// Splits a leading part of `items` into groups, in order, into `out` (as many
// as fit) and returns how many it wrote. A group extends while the next item
// has the same `to` and effective source, and a non-zero size no larger than
// the first item's; a smaller item ends it, as do kMaxGsoSegments items and
// kMaxGsoBytes bytes. An empty item, or one larger than kMaxGsoBytes, is a
// group of its own. With `segment` false every item is a group of its own.
size_t PlanSendGroups(std::span<const SendItem> items, bool segment,
                      std::span<SendGroup> out);

}  // namespace zl::net
