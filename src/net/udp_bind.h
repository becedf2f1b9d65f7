#pragma once
// LinuxBind: the Bind (bind.h) of Linux: one IPv4 and one IPv6 socket
// (IPV6_V6ONLY) on the same port, batches through recvmmsg/sendmmsg, sticky
// replies through IP_PKTINFO/IPV6_PKTINFO.
//
// Thread safety and ownership: see bind.h; fd() belongs to the owning thread.

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
  Waitable waitable(IpAddress::Family family) const override { return fd(family); }
  // The socket of `family`; -1 if that family is off.
  int fd(IpAddress::Family family) const;
  Result<size_t> Receive(IpAddress::Family family,
                         std::span<RecvSlot> slots) override;
  Result<size_t> Send(std::span<const SendItem> items) override;
  Result<void> SetFwmark(uint32_t mark) override;
  Result<void> Rebind(uint16_t port) override;

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
  // Sends one run of items of one family; same contract as Send.
  Result<size_t> SendRun(int fd, std::span<const SendItem> items);

  Sockets sockets_;
  ListenAddresses listen_;
  uint32_t fwmark_ = 0;
};

}  // namespace zl::net
