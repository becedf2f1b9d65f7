#include "net/tun_coalesce.h"

namespace zl::net {

TunCoalescer::TunCoalescer(Options options) : options_(options) {}

// One packet per write (no coalescing yet): always correct.
std::span<const TunWrite> TunCoalescer::Plan(std::span<const MutableByteSpan> packets) {
  headers_.assign(packets.size(), VirtioNetHdr{});
  iovs_.clear();
  iovs_.reserve(packets.size() * 2);
  writes_.clear();
  for (size_t i = 0; i < packets.size(); ++i) {
    iovs_.push_back(iovec{&headers_[i], sizeof(VirtioNetHdr)});
    iovs_.push_back(iovec{packets[i].data(), packets[i].size()});
  }
  for (size_t i = 0; i < packets.size(); ++i) {
    writes_.push_back(TunWrite{std::span<const iovec>(&iovs_[2 * i], 2), 1});
  }
  return writes_;
}

}  // namespace zl::net
