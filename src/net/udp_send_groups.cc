#include "net/udp_send_groups.h"

namespace zl::net {

std::optional<IpAddress> EffectiveSource(const SendItem& item) {
  if (item.source && item.source->family() == item.to.address().family())
    return item.source;
  return std::nullopt;
}

namespace {

// How many items from items[first] form one group (at least 1).
size_t GroupLength(std::span<const SendItem> items, size_t first) {
  const SendItem& head = items[first];
  const size_t size = head.data.size();
  if (size == 0 || size > kMaxGsoBytes) return 1;
  const std::optional<IpAddress> source = EffectiveSource(head);
  size_t count = 1;
  size_t bytes = size;
  while (first + count < items.size() && count < kMaxGsoSegments) {
    const SendItem& next = items[first + count];
    const size_t next_size = next.data.size();
    if (next_size == 0 || next_size > size ||
        bytes + next_size > kMaxGsoBytes || next.to != head.to ||
        EffectiveSource(next) != source) {
      break;
    }
    ++count;
    bytes += next_size;
    if (next_size < size) break;  // a shorter datagram is the last one
  }
  return count;
}

}  // namespace

size_t PlanSendGroups(std::span<const SendItem> items, bool segment,
                      std::span<SendGroup> out) {
  size_t groups = 0;
  size_t next = 0;
  while (next < items.size() && groups < out.size()) {
    const size_t count = segment ? GroupLength(items, next) : 1;
    out[groups++] =
        SendGroup{next, count, count > 1 ? items[next].data.size() : 0};
    next += count;
  }
  return groups;
}

}  // namespace zl::net
