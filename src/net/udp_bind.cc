#include "net/udp_bind.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "net/shared_port.h"
#include "net/sockaddr.h"

namespace zl::net {
namespace {

// Room for one IP_PKTINFO or IPV6_PKTINFO control message.
constexpr size_t kControlSize =
    std::max(CMSG_SPACE(sizeof(in_pktinfo)), CMSG_SPACE(sizeof(in6_pktinfo)));

using ControlBuffer = std::array<char, kControlSize>;

std::string Describe(const IpAddress& address, uint16_t port) {
  return "UDP " + Endpoint(address, port).ToString();
}

Result<void> SetIntOption(int fd, int level, int name, int value,
                          std::string_view what) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0)
    return ErrnoError(what);
  return Ok();
}

// Large buffers absorb bursts between two wake-ups. The *FORCE variants
// (CAP_NET_ADMIN) ignore net.core.[rw]mem_max; without the capability the
// plain option gets as much as the sysctl allows.
void SetBufferSizes(int fd) {
  for (auto [force, plain] : {std::pair{SO_RCVBUFFORCE, SO_RCVBUF},
                              std::pair{SO_SNDBUFFORCE, SO_SNDBUF}}) {
    const int size = kSocketBufferSize;
    if (::setsockopt(fd, SOL_SOCKET, force, &size, sizeof(size)) != 0) {
      ::setsockopt(fd, SOL_SOCKET, plain, &size, sizeof(size));
    }
  }
}

Result<uint16_t> LocalPort(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0)
    return ErrnoError("getsockname");
  auto endpoint = FromSockaddr(storage, len);
  if (!endpoint)
    return MakeError(EAFNOSUPPORT, "getsockname: unexpected address family");
  return endpoint->port();
}

Result<UniqueFd> OpenSocket(const IpAddress& address, uint16_t port,
                            uint32_t fwmark) {
  const std::string what = Describe(address, port);
  const bool v6 = address.is_v6();
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET,
                       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd) return ErrnoError(what + ": socket");
  if (v6) {
    ZL_RETURN_IF_ERROR(SetIntOption(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1,
                                    what + ": IPV6_V6ONLY"));
    ZL_RETURN_IF_ERROR(SetIntOption(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, 1,
                                    what + ": IPV6_RECVPKTINFO"));
  } else {
    ZL_RETURN_IF_ERROR(SetIntOption(fd.get(), IPPROTO_IP, IP_PKTINFO, 1,
                                    what + ": IP_PKTINFO"));
  }
  SetBufferSizes(fd.get());
  if (fwmark != 0) {
    ZL_RETURN_IF_ERROR(SetIntOption(fd.get(), SOL_SOCKET, SO_MARK,
                                    static_cast<int>(fwmark),
                                    what + ": SO_MARK"));
  }
  sockaddr_storage storage;
  const socklen_t len = ToSockaddr(Endpoint(address, port), &storage);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return ErrnoError(what + ": bind");
  }
  return fd;
}

std::optional<IpAddress> LocalAddressFromControl(msghdr* hdr) {
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(hdr); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(hdr, cmsg)) {
    if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_PKTINFO &&
        cmsg->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(cmsg), sizeof(info));
      return IpAddress::V4(
          reinterpret_cast<const uint8_t*>(&info.ipi_spec_dst));
    }
    if (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_PKTINFO &&
        cmsg->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(cmsg), sizeof(info));
      return IpAddress::V6(info.ipi6_addr.s6_addr);
    }
  }
  return std::nullopt;
}

// Fills `control` with the packet-info message choosing `source`; returns its
// length.
size_t PutSourceControl(const IpAddress& source, ControlBuffer& control) {
  control.fill(0);
  msghdr hdr{};
  hdr.msg_control = control.data();
  hdr.msg_controllen = control.size();
  cmsghdr* cmsg = CMSG_FIRSTHDR(&hdr);
  if (source.is_v4()) {
    in_pktinfo info{};
    std::memcpy(&info.ipi_spec_dst, source.bytes().data(), 4);
    cmsg->cmsg_level = IPPROTO_IP;
    cmsg->cmsg_type = IP_PKTINFO;
    cmsg->cmsg_len = CMSG_LEN(sizeof(info));
    std::memcpy(CMSG_DATA(cmsg), &info, sizeof(info));
    return CMSG_SPACE(sizeof(info));
  }
  in6_pktinfo info{};
  std::memcpy(&info.ipi6_addr, source.bytes().data(), 16);
  cmsg->cmsg_level = IPPROTO_IPV6;
  cmsg->cmsg_type = IPV6_PKTINFO;
  cmsg->cmsg_len = CMSG_LEN(sizeof(info));
  std::memcpy(CMSG_DATA(cmsg), &info, sizeof(info));
  return CMSG_SPACE(sizeof(info));
}

// What sendmsg answers when the IP_PKTINFO/IPV6_PKTINFO source is not a
// local address (any more): IPv4 routing says ENETUNREACH (EINVAL with an
// interface mismatch), IPv6 says EINVAL.
bool SourceMayBeStale(int err) {
  return err == EINVAL || err == ENETUNREACH || err == EADDRNOTAVAIL;
}

Error FamilyOffError(const Endpoint& to) {
  return MakeError(EAFNOSUPPORT,
                   "send to " + to.ToString() + ": that address family is off");
}

}  // namespace

Result<std::unique_ptr<LinuxBind>> LinuxBind::Open(uint16_t port,
                                                   ListenAddresses listen) {
  if ((listen.v4 && !listen.v4->is_v4()) ||
      (listen.v6 && !listen.v6->is_v6())) {
    return MakeError(EINVAL, "LinuxBind: listen addresses of the wrong family");
  }
  auto sockets = OpenSockets(port, listen, /*fwmark=*/0);
  if (!sockets.ok()) return sockets.error();
  return std::unique_ptr<LinuxBind>(
      new LinuxBind(std::move(*sockets), std::move(listen)));
}

Result<std::unique_ptr<Bind>> OpenUdpBind(uint16_t port, ListenAddresses listen) {
  auto bind = LinuxBind::Open(port, std::move(listen));
  if (!bind.ok()) return bind.error();
  return std::unique_ptr<Bind>(std::move(*bind));
}

LinuxBind::LinuxBind(Sockets sockets, ListenAddresses listen)
    : sockets_(std::move(sockets)), listen_(std::move(listen)) {}

Result<LinuxBind::Sockets> LinuxBind::OpenSockets(uint16_t port,
                                                  const ListenAddresses& listen,
                                                  uint32_t fwmark) {
  Sockets sockets;
  auto open_socket = [&](const IpAddress& address,
                         uint16_t on) -> Result<uint16_t> {
    auto fd = OpenSocket(address, on, fwmark);
    if (!fd.ok()) return fd.error();
    auto local = LocalPort(fd->get());
    if (!local.ok()) return local.error();
    (address.is_v4() ? sockets.v4 : sockets.v6) = std::move(*fd);
    return *local;
  };
  auto chosen = OpenOnSharedPort(
      port, listen, open_socket, [&] { sockets = Sockets(); }, "LinuxBind");
  if (!chosen.ok()) return chosen.error();
  sockets.port = *chosen;
  return sockets;
}

int LinuxBind::fd(IpAddress::Family family) const {
  return family == IpAddress::Family::kV4 ? sockets_.v4.get()
                                          : sockets_.v6.get();
}

Result<size_t> LinuxBind::Receive(IpAddress::Family family,
                                  std::span<RecvSlot> slots) {
  const int socket = fd(family);
  if (socket < 0)
    return MakeError(EAFNOSUPPORT,
                     "LinuxBind::Receive: that address family is off");
  const size_t count = std::min(slots.size(), kMaxBatchSize);
  if (count == 0) return size_t{0};

  std::array<mmsghdr, kMaxBatchSize> msgs{};
  std::array<iovec, kMaxBatchSize> iovs;
  std::array<sockaddr_storage, kMaxBatchSize> addrs;
  alignas(cmsghdr) std::array<ControlBuffer, kMaxBatchSize> controls;
  for (size_t i = 0; i < count; ++i) {
    iovs[i] = iovec{slots[i].buf.data(), slots[i].buf.size()};
    msghdr& hdr = msgs[i].msg_hdr;
    hdr.msg_name = &addrs[i];
    hdr.msg_namelen = sizeof(addrs[i]);
    hdr.msg_iov = &iovs[i];
    hdr.msg_iovlen = 1;
    hdr.msg_control = controls[i].data();
    hdr.msg_controllen = controls[i].size();
  }
  int n;
  do {
    n = ::recvmmsg(socket, msgs.data(), static_cast<unsigned>(count),
                   MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    return ErrnoError("LinuxBind: recvmmsg");
  }
  for (int i = 0; i < n; ++i) {
    RecvSlot& slot = slots[i];
    msghdr& hdr = msgs[i].msg_hdr;
    slot.len = std::min<size_t>(msgs[i].msg_len, slot.buf.size());
    slot.from = FromSockaddr(addrs[i], hdr.msg_namelen).value_or(Endpoint());
    slot.local = LocalAddressFromControl(&hdr);
  }
  return static_cast<size_t>(n);
}

Result<size_t> LinuxBind::Send(std::span<const SendItem> items) {
  size_t total = 0;
  while (total < items.size()) {
    // The longest run of one family, at most one sendmmsg long.
    const IpAddress::Family family = items[total].to.address().family();
    size_t end = total + 1;
    while (end < items.size() && end - total < kMaxBatchSize &&
           items[end].to.address().family() == family) {
      ++end;
    }
    const int socket = fd(family);
    Result<size_t> sent =
        socket >= 0 ? SendRun(socket, items.subspan(total, end - total))
                    : FamilyOffError(items[total].to);
    if (!sent.ok()) {
      if (total > 0) return total;
      return sent.error();
    }
    total += *sent;
    if (total < end) return total;  // EAGAIN, or items[total] fails
  }
  return total;
}

Result<size_t> LinuxBind::SendRun(int socket, std::span<const SendItem> items) {
  std::array<mmsghdr, kMaxBatchSize> msgs{};
  std::array<iovec, kMaxBatchSize> iovs;
  std::array<sockaddr_storage, kMaxBatchSize> addrs;
  alignas(cmsghdr) std::array<ControlBuffer, kMaxBatchSize> controls;
  for (size_t i = 0; i < items.size(); ++i) {
    const SendItem& item = items[i];
    iovs[i] = iovec{const_cast<uint8_t*>(item.data.data()), item.data.size()};
    msghdr& hdr = msgs[i].msg_hdr;
    hdr.msg_name = &addrs[i];
    hdr.msg_namelen = ToSockaddr(item.to, &addrs[i]);
    hdr.msg_iov = &iovs[i];
    hdr.msg_iovlen = 1;
    if (item.source && item.source->family() == item.to.address().family()) {
      hdr.msg_control = controls[i].data();
      hdr.msg_controllen = PutSourceControl(*item.source, controls[i]);
    }
  }

  size_t done = 0;
  while (done < items.size()) {
    const int n =
        ::sendmmsg(socket, &msgs[done],
                   static_cast<unsigned>(items.size() - done), MSG_DONTWAIT);
    if (n > 0) {
      // On a partial send, the next round starts at the failing item and
      // gets its error.
      done += static_cast<size_t>(n);
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return done;
    msghdr& failed = msgs[done].msg_hdr;
    if (failed.msg_control != nullptr && SourceMayBeStale(err)) {
      // The sticky source address may no longer be ours: let routing choose.
      failed.msg_control = nullptr;
      failed.msg_controllen = 0;
      continue;
    }
    if (done > 0) return done;
    return ErrnoError(err, "sendmmsg to " + items[done].to.ToString());
  }
  return done;
}

Result<void> LinuxBind::SetFwmark(uint32_t mark) {
  for (const UniqueFd* socket : {&sockets_.v4, &sockets_.v6}) {
    if (!*socket) continue;
    ZL_RETURN_IF_ERROR(
        SetIntOption(socket->get(), SOL_SOCKET, SO_MARK, static_cast<int>(mark),
                     "LinuxBind: SO_MARK " + std::to_string(mark)));
  }
  fwmark_ = mark;
  return Ok();
}

Result<void> LinuxBind::Rebind(uint16_t port) {
  if (port != 0 && port == sockets_.port) return Ok();
  auto sockets = OpenSockets(port, listen_, fwmark_);
  if (!sockets.ok()) return sockets.error();
  sockets_ = std::move(*sockets);
  return Ok();
}

}  // namespace zl::net
