#pragma once
// TunCoalescer: receive-side offload (GRO) for a Linux TUN opened with
// IFF_VNET_HDR. It turns a batch of plain IP packets (decrypted from the
// tunnel) into as few TUN writes as it can: consecutive TCP segments of one
// flow (and, when the TUN accepts USO, UDP datagrams of one flow) become one
// super-packet with a virtio_net_hdr saying how the kernel may split it
// again, so the kernel's stack handles one large packet instead of dozens.
//
// Each write is a VirtioNetHdr (virtio_net_hdr.h, 10 bytes)
// followed by the packet bytes, gathered from the caller's buffers without a
// copy (iovecs). A packet that is not coalesced goes out alone with an
// all-zero header (VIRTIO_NET_HDR_GSO_NONE, no checksum request): the kernel
// then takes it as it is.
//
// Linux only (iovec); pure otherwise: no I/O, no clock.
// Thread safety: one object per writer thread.

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

#include "base/bytes.h"
#include "net/virtio_net_hdr.h"

namespace zl::net {

// One TUN write: iov[0] is the VirtioNetHdr, the rest the packet bytes.
struct TunWrite {
  std::span<const iovec> iov;
  size_t packets = 0;  // how many of the caller's packets it carries
};

class TunCoalescer {
 public:
  struct Options {
    bool tcp = true;   // the TUN has TSO4/TSO6 (so accepts TCP super-packets)
    bool udp = false;  // the TUN has USO4/USO6
  };

  explicit TunCoalescer(Options options);

  // Plans the writes for `packets`. Packets that it groups may have the
  // first packet's headers rewritten in place (lengths, checksums, flags);
  // every packet is in exactly one write; within a flow the order is kept.
  // The result refers to `packets` and to this object's storage, and is
  // valid until the next Plan.
  std::span<const TunWrite> Plan(std::span<const MutableByteSpan> packets);

  // Packets merged into another packet's write, since creation (for tests
  // and counters).
  uint64_t coalesced() const { return coalesced_; }

 private:
  Options options_;
  std::vector<VirtioNetHdr> headers_;
  std::vector<iovec> iovs_;
  std::vector<TunWrite> writes_;
  uint64_t coalesced_ = 0;
};

}  // namespace zl::net
