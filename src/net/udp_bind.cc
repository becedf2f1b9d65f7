#include "net/udp_bind.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/log.h"
#include "net/shared_port.h"
#include "net/sockaddr.h"
#include "net/udp_send_groups.h"

namespace zl::net {
namespace {

// Room for one datagram's control messages: IP_PKTINFO or IPV6_PKTINFO, and
// UDP_SEGMENT (sending: a uint16_t) or UDP_GRO (receiving: an int).
constexpr size_t kControlSize =
    std::max(CMSG_SPACE(sizeof(in_pktinfo)), CMSG_SPACE(sizeof(in6_pktinfo))) +
    CMSG_SPACE(sizeof(int));

using ControlBuffer = std::array<char, kControlSize>;

// The most items one sendmmsg call of SendRun covers (an iovec each).
constexpr size_t kMaxItemsPerSendCall = 1024;

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

// What the control messages of a received datagram say.
struct ReceivedControl {
  std::optional<IpAddress> local;
  size_t segment_size = 0;  // UDP_GRO: 0 when not coalesced
};

ReceivedControl ParseReceivedControl(msghdr* hdr) {
  ReceivedControl parsed;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(hdr); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(hdr, cmsg)) {
    if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_PKTINFO &&
        cmsg->cmsg_len >= CMSG_LEN(sizeof(in_pktinfo))) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(cmsg), sizeof(info));
      parsed.local =
          IpAddress::V4(reinterpret_cast<const uint8_t*>(&info.ipi_spec_dst));
    } else if (cmsg->cmsg_level == IPPROTO_IPV6 &&
               cmsg->cmsg_type == IPV6_PKTINFO &&
               cmsg->cmsg_len >= CMSG_LEN(sizeof(in6_pktinfo))) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(cmsg), sizeof(info));
      parsed.local = IpAddress::V6(info.ipi6_addr.s6_addr);
    } else if (cmsg->cmsg_level == SOL_UDP && cmsg->cmsg_type == UDP_GRO &&
               cmsg->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int segment_size;
      std::memcpy(&segment_size, CMSG_DATA(cmsg), sizeof(segment_size));
      parsed.segment_size =
          segment_size > 0 ? static_cast<size_t>(segment_size) : 0;
    }
  }
  return parsed;
}

// Appends one control message carrying `value` at `*used` in `control`.
template <typename T>
void AppendControl(ControlBuffer& control, size_t* used, int level, int type,
                   const T& value) {
  auto* cmsg = reinterpret_cast<cmsghdr*>(control.data() + *used);
  cmsg->cmsg_level = level;
  cmsg->cmsg_type = type;
  cmsg->cmsg_len = CMSG_LEN(sizeof(T));
  std::memcpy(CMSG_DATA(cmsg), &value, sizeof(T));
  *used += CMSG_SPACE(sizeof(T));
}

// Fills `control` with what a message needs: the packet-info message choosing
// `source` (if any) and the UDP_SEGMENT size (if not 0). Returns the length
// (0: no control messages).
size_t PutSendControl(const std::optional<IpAddress>& source,
                      uint16_t segment_size, ControlBuffer& control) {
  control.fill(0);
  size_t used = 0;
  if (source && source->is_v4()) {
    in_pktinfo info{};
    std::memcpy(&info.ipi_spec_dst, source->bytes().data(), 4);
    AppendControl(control, &used, IPPROTO_IP, IP_PKTINFO, info);
  } else if (source) {
    in6_pktinfo info{};
    std::memcpy(&info.ipi6_addr, source->bytes().data(), 16);
    AppendControl(control, &used, IPPROTO_IPV6, IPV6_PKTINFO, info);
  }
  if (segment_size != 0) {
    AppendControl(control, &used, SOL_UDP, UDP_SEGMENT, segment_size);
  }
  return used;
}

// What sendmsg answers when the kernel will not segment a message it would
// send as single datagrams: EIO when the route's device cannot checksum
// (udp_send_skb), EINVAL when a segment does not fit the route's MTU or the
// socket has no checksums, EMSGSIZE when the whole is too long.
bool SegmentationMayBeRefused(int err) {
  return err == EIO || err == EINVAL || err == EMSGSIZE;
}

// Whether `fd` knows UDP_SEGMENT (Linux 4.18 and later).
bool SupportsUdpSegment(int fd) {
  int value = 0;
  socklen_t len = sizeof(value);
  return ::getsockopt(fd, SOL_UDP, UDP_SEGMENT, &value, &len) == 0;
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

Result<std::unique_ptr<Bind>> OpenUdpBind(uint16_t port,
                                          ListenAddresses listen) {
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
    // MSG_TRUNC: msg_len is each datagram's whole length, even when cut.
    n = ::recvmmsg(socket, msgs.data(), static_cast<unsigned>(count),
                   MSG_DONTWAIT | MSG_TRUNC, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    return ErrnoError("LinuxBind: recvmmsg");
  }
  for (int i = 0; i < n; ++i) {
    RecvSlot& slot = slots[i];
    msghdr& hdr = msgs[i].msg_hdr;
    const size_t whole = msgs[i].msg_len;
    const ReceivedControl control = ParseReceivedControl(&hdr);
    slot.len = std::min(whole, slot.buf.size());
    slot.from = FromSockaddr(addrs[i], hdr.msg_namelen).value_or(Endpoint());
    slot.local = control.local;
    slot.segment_size = 0;
    const size_t segment = control.segment_size;
    if (segment == 0 || segment >= whole) continue;  // one datagram
    if (whole > slot.buf.size()) {
      // Keep the whole segments that fit; a buffer smaller than one segment
      // keeps one datagram, truncated, as without GRO.
      const size_t fitting = slot.buf.size() / segment;
      const size_t kept = std::max<size_t>(fitting, 1);
      if (fitting > 0) slot.len = fitting * segment;
      CountGroLoss((whole + segment - 1) / segment - kept, slot.buf.size());
    }
    if (slot.len > segment) slot.segment_size = segment;
  }
  return static_cast<size_t>(n);
}

void LinuxBind::CountGroLoss(size_t datagrams, size_t slot_size) {
  gro_datagrams_lost_.fetch_add(datagrams, std::memory_order_relaxed);
  if (!gro_loss_logged_.exchange(true)) {
    LogError("LinuxBind: UDP GRO delivered more than a receive slot holds (" +
             std::to_string(slot_size) + " bytes); " +
             std::to_string(datagrams) +
             " datagram(s) cut off and lost (slots must hold 65535 bytes; "
             "further losses are only counted)");
  }
}

Result<size_t> LinuxBind::Send(std::span<const SendItem> items) {
  size_t total = 0;
  while (total < items.size()) {
    // The longest run of one family.
    const IpAddress::Family family = items[total].to.address().family();
    size_t end = total + 1;
    while (end < items.size() && items[end].to.address().family() == family) {
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
  std::array<SendGroup, kMaxBatchSize> groups;
  std::array<mmsghdr, kMaxBatchSize> msgs;
  std::array<std::optional<IpAddress>, kMaxBatchSize> sources;
  std::array<iovec, kMaxItemsPerSendCall> iovs;
  std::array<sockaddr_storage, kMaxBatchSize> addrs;
  alignas(cmsghdr) std::array<ControlBuffer, kMaxBatchSize> controls;
  auto set_control = [&](size_t m, uint16_t segment_size) {
    msghdr& hdr = msgs[m].msg_hdr;
    hdr.msg_controllen = PutSendControl(sources[m], segment_size, controls[m]);
    hdr.msg_control = hdr.msg_controllen > 0 ? controls[m].data() : nullptr;
  };

  size_t done = 0;         // items handed to the kernel
  size_t plain_until = 0;  // items before this one go one per message
  while (done < items.size()) {
    // Plan one sendmmsg call from items[done].
    const bool plain = done < plain_until;
    const bool segment =
        !plain && send_offload_.load(std::memory_order_relaxed);
    const size_t end = plain ? plain_until : items.size();
    const std::span<const SendItem> round =
        items.subspan(done, std::min(end - done, kMaxItemsPerSendCall));
    const size_t count = PlanSendGroups(round, segment, groups);
    for (size_t m = 0; m < count; ++m) {
      const SendGroup& group = groups[m];
      for (size_t i = 0; i < group.count; ++i) {
        const ByteSpan data = round[group.first + i].data;
        iovs[group.first + i] =
            iovec{const_cast<uint8_t*>(data.data()), data.size()};
      }
      const SendItem& head = round[group.first];
      msghdr& hdr = msgs[m].msg_hdr;
      hdr = msghdr{};
      hdr.msg_name = &addrs[m];
      hdr.msg_namelen = ToSockaddr(head.to, &addrs[m]);
      hdr.msg_iov = &iovs[group.first];
      hdr.msg_iovlen = group.count;
      sources[m] = EffectiveSource(head);
      set_control(m, static_cast<uint16_t>(group.segment_size));
    }

    size_t m = 0;  // messages of this round handed to the kernel
    while (m < count) {
      const int n = ::sendmmsg(socket, &msgs[m],
                               static_cast<unsigned>(count - m), MSG_DONTWAIT);
      if (n > 0) {
        // On a partial send, the next round starts at the failing message
        // and gets its error.
        for (int k = 0; k < n; ++k, ++m) done += groups[m].count;
        continue;
      }
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return done;
      const SendGroup& group = groups[m];
      if (group.segment_size != 0 && SegmentationMayBeRefused(err)) {
        // Was it the segmentation? Try the first datagram alone.
        msghdr single = msgs[m].msg_hdr;
        single.msg_iovlen = 1;
        alignas(cmsghdr) ControlBuffer control;
        single.msg_controllen = PutSendControl(sources[m], 0, control);
        single.msg_control =
            single.msg_controllen > 0 ? control.data() : nullptr;
        ssize_t sent;
        do {
          sent = ::sendmsg(socket, &single, MSG_DONTWAIT);
        } while (sent < 0 && errno == EINTR);
        if (sent >= 0) {
          DisableSendOffload(err);
          done += 1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return done;
        } else {
          // Not the segmentation: the plain path meets the error again and
          // deals with it.
          plain_until = done + group.count;
        }
        break;  // plan again from items[done]
      }
      if (sources[m] && SourceMayBeStale(err)) {
        // The sticky source address may no longer be ours: let routing choose.
        sources[m].reset();
        set_control(m, static_cast<uint16_t>(group.segment_size));
        continue;
      }
      if (done > 0) return done;
      return ErrnoError(err, "sendmmsg to " + items[done].to.ToString());
    }
  }
  return done;
}

void LinuxBind::DisableSendOffload(int err) {
  send_offload_.store(false, std::memory_order_relaxed);
  if (!send_offload_refused_.exchange(true)) {
    LogVerbose(
        std::string("LinuxBind: the kernel refused a UDP_SEGMENT send (") +
        std::strerror(err) + "); sending one datagram per message from now on");
  }
}

BindOffloads LinuxBind::SetOffloads(BindOffloads wanted) {
  wanted_ = wanted;
  ApplyOffloads(sockets_);
  return offloads();
}

BindOffloads LinuxBind::offloads() const {
  return BindOffloads{send_offload_.load(std::memory_order_relaxed),
                      receive_offload_};
}

void LinuxBind::ApplyOffloads(const Sockets& sockets) {
  bool send =
      wanted_.send && !send_offload_refused_.load(std::memory_order_relaxed);
  bool receive = wanted_.receive;
  for (const UniqueFd* socket : {&sockets.v4, &sockets.v6}) {
    if (!*socket) continue;
    if (send && !SupportsUdpSegment(socket->get())) send = false;
    if (receive &&
        !SetIntOption(socket->get(), SOL_UDP, UDP_GRO, 1, "UDP_GRO").ok())
      receive = false;
  }
  if (!receive) {
    // All or none: a socket that took UDP_GRO before another refused it goes
    // back (errors ignored: a kernel without UDP_GRO has it off anyway).
    for (const UniqueFd* socket : {&sockets.v4, &sockets.v6}) {
      if (*socket)
        (void)SetIntOption(socket->get(), SOL_UDP, UDP_GRO, 0, "UDP_GRO");
    }
  }
  send_offload_.store(send, std::memory_order_relaxed);
  receive_offload_ = receive;
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
  ApplyOffloads(*sockets);
  sockets_ = std::move(*sockets);
  return Ok();
}

}  // namespace zl::net
