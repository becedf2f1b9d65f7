#pragma once
// LinuxBind: the Bind (bind.h) of Linux: one IPv4 and one IPv6 socket
// (IPV6_V6ONLY) on the same port, batches through recvmmsg/sendmmsg, sticky
// replies through IP_PKTINFO/IPV6_PKTINFO.
//
// Offloads (SetOffloads, off until asked; kept across Rebind):
// - send: UDP_SEGMENT. Send packs runs of equal-size items to one destination
//   from one source (udp_send_groups.h) into one message each, the items'
//   buffers as its iovecs (no copy). If the kernel refuses a segmented message
//   that it takes as single datagrams (EIO: the route's device cannot
//   checksum, before Linux 6.11; EINVAL/EMSGSIZE: e.g. a segment larger than
//   the route's MTU), send offload goes off for good (a verbose log line says
//   so) and the items go out one per message.
// - receive: UDP_GRO. A slot may hold several datagrams (RecvSlot::
//   segment_size; 0 when it holds one). A coalesced slot larger than its
//   buffer keeps only the whole segments that fit (a buffer smaller than one
//   segment keeps that one datagram, truncated, as without GRO); the segments
//   cut off are lost, counted in gro_datagrams_lost() and logged once as an
//   error: give GRO slots of at least 65535 bytes (bind.h).
//
// Thread safety and ownership: see bind.h; fd() and offloads() belong to the
// owning thread; gro_datagrams_lost() may be read from any thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/result.h"
#include "base/unique_fd.h"
#include "net/bind.h"

namespace zl::net {

class LinuxBind final : public Bind {
 public:
  // Opens both sockets on `port` (0: the kernel picks one free for both
  // families). A family whose socket cannot be created at all
  // (EAFNOSUPPORT: IPv6 compiled out) is left off; any other failure fails.
  static Result<std::unique_ptr<LinuxBind>> Open(
      uint16_t port, ListenAddresses listen = ListenAddresses::Any());

  uint16_t port() const override { return sockets_.port; }
  Waitable waitable(IpAddress::Family family) const override {
    return fd(family);
  }
  // The socket of `family`; -1 if that family is off.
  int fd(IpAddress::Family family) const;
  Result<size_t> Receive(IpAddress::Family family,
                         std::span<RecvSlot> slots) override;
  Result<size_t> Send(std::span<const SendItem> items) override;
  Result<void> SetFwmark(uint32_t mark) override;
  BindOffloads SetOffloads(BindOffloads wanted) override;
  Result<void> Rebind(uint16_t port) override;

  // The offloads in effect (what SetOffloads last returned, less send offload
  // if the kernel refused a segmented send since).
  BindOffloads offloads() const;
  // Datagrams of UDP_GRO-coalesced slots cut off because the slot's buffer
  // was too small (see above).
  uint64_t gro_datagrams_lost() const {
    return gro_datagrams_lost_.load(std::memory_order_relaxed);
  }

 private:
  struct Sockets {
    UniqueFd v4;
    UniqueFd v6;
    uint16_t port = 0;
  };

  LinuxBind(Sockets sockets, ListenAddresses listen);
  static Result<Sockets> OpenSockets(uint16_t port,
                                     const ListenAddresses& listen,
                                     uint32_t fwmark);
  // Applies wanted_ to `sockets` and sets send_offload_ and receive_offload_.
  void ApplyOffloads(const Sockets& sockets);
  // Sends one run of items of one family; same contract as Send.
  Result<size_t> SendRun(int fd, std::span<const SendItem> items);
  // Turns send offload off for good after the kernel refused it with `err`.
  void DisableSendOffload(int err);
  // Counts `datagrams` of a coalesced slot of `slot_size` bytes as lost
  // (logged the first time).
  void CountGroLoss(size_t datagrams, size_t slot_size);

  Sockets sockets_;
  ListenAddresses listen_;
  uint32_t fwmark_ = 0;
  BindOffloads wanted_;
  bool receive_offload_ = false;
  // Written by Send (fallback) too, read by Send and the owning thread.
  std::atomic<bool> send_offload_{false};
  std::atomic<bool> send_offload_refused_{false};
  std::atomic<uint64_t> gro_datagrams_lost_{0};
  std::atomic<bool> gro_loss_logged_{false};
};

}  // namespace zl::net
