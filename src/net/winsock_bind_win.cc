#include "net/winsock_bind_win.h"

#include <ws2tcpip.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "net/shared_port.h"
#include "net/sockaddr.h"
#include "net/win32_error_win.h"

namespace zl::net {
namespace {

// Receive stops after this many calls per slot even if each call was skipped
// (connection-reset reports), so one Receive stays bounded.
constexpr size_t kCallsPerSlot = 4;

// Room for one IP_PKTINFO or IPV6_PKTINFO control message.
constexpr size_t kControlSize =
    std::max(WSA_CMSG_SPACE(sizeof(IN_PKTINFO)), WSA_CMSG_SPACE(sizeof(IN6_PKTINFO)));

struct alignas(WSACMSGHDR) ControlBuffer {
  std::array<char, kControlSize> bytes;
};

std::string Describe(const IpAddress& address, uint16_t port) {
  return "UDP " + Endpoint(address, port).ToString();
}

Result<void> SetIntOption(SOCKET s, int level, int name, int value, std::string_view what) {
  if (setsockopt(s, level, name, reinterpret_cast<const char*>(&value), sizeof(value)) != 0) {
    return LastWsaError(what);
  }
  return Ok();
}

Result<uint16_t> LocalPort(SOCKET s) {
  sockaddr_storage storage{};
  int len = sizeof(storage);
  if (getsockname(s, reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    return LastWsaError("getsockname");
  }
  auto endpoint = FromSockaddr(storage, len);
  if (!endpoint) return MakeError(EAFNOSUPPORT, "getsockname: unexpected address family");
  return endpoint->port();
}

// WSA_FLAG_NO_HANDLE_INHERIT: child processes do not inherit the socket
// (Windows 7 SP1 and later; older ones say WSAEINVAL, and get one without).
SOCKET NewUdpSocket(int family) {
  SOCKET s = WSASocketW(family, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
    s = WSASocketW(family, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0, WSA_FLAG_OVERLAPPED);
  }
  return s;
}

// Large buffers absorb bursts between two wake-ups; Windows grants what it
// can, so a refusal is not an error.
void SetBufferSizes(SOCKET s) {
  for (int option : {SO_RCVBUF, SO_SNDBUF}) {
    (void)SetIntOption(s, SOL_SOCKET, option, kSocketBufferSize, "");
  }
}

// Without this, an ICMP port unreachable answering one of our datagrams makes
// the socket's next receive fail with WSAECONNRESET (wireguard-go turns it
// off too).
Result<void> DisableConnectionReset(SOCKET s, std::string_view what) {
  BOOL report = FALSE;
  DWORD returned = 0;
  if (WSAIoctl(s, SIO_UDP_CONNRESET, &report, sizeof(report), nullptr, 0, &returned, nullptr,
               nullptr) != 0) {
    return LastWsaError(std::string(what) + ": SIO_UDP_CONNRESET");
  }
  return Ok();
}

// The provider's WSARecvMsg, or nullptr when it has none.
LPFN_WSARECVMSG FindWsaRecvMsg(SOCKET s) {
  GUID id = WSAID_WSARECVMSG;
  LPFN_WSARECVMSG fn = nullptr;
  DWORD returned = 0;
  if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof(id), &fn, sizeof(fn),
               &returned, nullptr, nullptr) != 0) {
    return nullptr;
  }
  return fn;
}

std::optional<IpAddress> LocalAddressFromControl(const WSAMSG& msg) {
  if (msg.Control.buf == nullptr) return std::nullopt;
  for (const WSACMSGHDR* cmsg = WSA_CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = WSA_CMSG_NXTHDR(&msg, cmsg)) {
    const auto* data = WSA_CMSG_DATA(cmsg);
    if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_PKTINFO &&
        cmsg->cmsg_len >= WSA_CMSG_LEN(sizeof(IN_PKTINFO))) {
      IN_PKTINFO info;
      std::memcpy(&info, data, sizeof(info));
      return IpAddress::V4(reinterpret_cast<const uint8_t*>(&info.ipi_addr));
    }
    if (cmsg->cmsg_level == IPPROTO_IPV6 && cmsg->cmsg_type == IPV6_PKTINFO &&
        cmsg->cmsg_len >= WSA_CMSG_LEN(sizeof(IN6_PKTINFO))) {
      IN6_PKTINFO info;
      std::memcpy(&info, data, sizeof(info));
      return IpAddress::V6(info.ipi6_addr.s6_addr);
    }
  }
  return std::nullopt;
}

// Fills `control` with the packet-info message choosing `source` (interface
// 0: the one that owns the address); returns its length.
ULONG PutSourceControl(const IpAddress& source, ControlBuffer& control) {
  control.bytes.fill(0);
  auto* cmsg = reinterpret_cast<WSACMSGHDR*>(control.bytes.data());
  auto* data = WSA_CMSG_DATA(cmsg);
  if (source.is_v4()) {
    IN_PKTINFO info{};
    std::memcpy(&info.ipi_addr, source.bytes().data(), 4);
    cmsg->cmsg_level = IPPROTO_IP;
    cmsg->cmsg_type = IP_PKTINFO;
    cmsg->cmsg_len = WSA_CMSG_LEN(sizeof(info));
    std::memcpy(data, &info, sizeof(info));
    return WSA_CMSG_SPACE(sizeof(info));
  }
  IN6_PKTINFO info{};
  std::memcpy(&info.ipi6_addr, source.bytes().data(), 16);
  cmsg->cmsg_level = IPPROTO_IPV6;
  cmsg->cmsg_type = IPV6_PKTINFO;
  cmsg->cmsg_len = WSA_CMSG_LEN(sizeof(info));
  std::memcpy(data, &info, sizeof(info));
  return WSA_CMSG_SPACE(sizeof(info));
}

// What WSASendMsg may answer when the packet-info source is not a local
// address (any more).
bool SourceMayBeStale(int wsa_error) {
  return wsa_error == WSAEADDRNOTAVAIL || wsa_error == WSAEINVAL ||
         wsa_error == WSAENETUNREACH || wsa_error == WSAEHOSTUNREACH;
}

Error FamilyOffError(const Endpoint& to) {
  return MakeError(EAFNOSUPPORT, "send to " + to.ToString() + ": that address family is off");
}

}  // namespace

Result<std::unique_ptr<WinsockBind>> WinsockBind::Open(uint16_t port, ListenAddresses listen) {
  if ((listen.v4 && !listen.v4->is_v4()) || (listen.v6 && !listen.v6->is_v6())) {
    return MakeError(EINVAL, "WinsockBind: listen addresses of the wrong family");
  }
  ZL_RETURN_IF_ERROR(InitWinsock());
  auto sockets = OpenSockets(port, listen);
  if (!sockets.ok()) return sockets.error();
  return std::unique_ptr<WinsockBind>(new WinsockBind(std::move(*sockets), std::move(listen)));
}

Result<std::unique_ptr<Bind>> OpenUdpBind(uint16_t port, ListenAddresses listen) {
  auto bind = WinsockBind::Open(port, std::move(listen));
  if (!bind.ok()) return bind.error();
  return std::unique_ptr<Bind>(std::move(*bind));
}

WinsockBind::WinsockBind(Sockets sockets, ListenAddresses listen)
    : sockets_(std::move(sockets)), listen_(std::move(listen)) {}

Result<WinsockBind::FamilySocket> WinsockBind::OpenSocket(const IpAddress& address,
                                                          uint16_t port) {
  const std::string what = Describe(address, port);
  const bool v6 = address.is_v6();
  FamilySocket result;
  result.socket = UniqueSocket(NewUdpSocket(v6 ? AF_INET6 : AF_INET));
  if (!result.socket) return LastWsaError(what + ": WSASocket");
  const SOCKET s = result.socket.get();
  if (v6) {
    ZL_RETURN_IF_ERROR(SetIntOption(s, IPPROTO_IPV6, IPV6_V6ONLY, 1, what + ": IPV6_V6ONLY"));
    ZL_RETURN_IF_ERROR(SetIntOption(s, IPPROTO_IPV6, IPV6_PKTINFO, 1, what + ": IPV6_PKTINFO"));
  } else {
    ZL_RETURN_IF_ERROR(SetIntOption(s, IPPROTO_IP, IP_PKTINFO, 1, what + ": IP_PKTINFO"));
  }
  ZL_RETURN_IF_ERROR(
      SetIntOption(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1, what + ": SO_EXCLUSIVEADDRUSE"));
  SetBufferSizes(s);
  ZL_RETURN_IF_ERROR(DisableConnectionReset(s, what));
  result.recv_msg = FindWsaRecvMsg(s);

  sockaddr_storage storage;
  const socklen_t len = ToSockaddr(Endpoint(address, port), &storage);
  if (bind(s, reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    return LastWsaError(what + ": bind");
  }
  // WSAEventSelect also makes the socket non-blocking.
  result.event = UniqueHandle(WSACreateEvent());
  if (!result.event.valid()) return LastWsaError(what + ": WSACreateEvent");
  if (WSAEventSelect(s, result.event.get(), FD_READ) != 0) {
    return LastWsaError(what + ": WSAEventSelect");
  }
  return result;
}

Result<WinsockBind::Sockets> WinsockBind::OpenSockets(uint16_t port,
                                                      const ListenAddresses& listen) {
  Sockets sockets;
  auto open_socket = [&](const IpAddress& address, uint16_t on) -> Result<uint16_t> {
    auto socket = OpenSocket(address, on);
    if (!socket.ok()) return socket.error();
    auto local = LocalPort(socket->socket.get());
    if (!local.ok()) return local.error();
    (address.is_v4() ? sockets.v4 : sockets.v6) = std::move(*socket);
    return *local;
  };
  auto chosen = OpenOnSharedPort(port, listen, open_socket, [&] { sockets = Sockets(); },
                                 "WinsockBind");
  if (!chosen.ok()) return chosen.error();
  sockets.port = *chosen;
  return sockets;
}

Waitable WinsockBind::waitable(IpAddress::Family family) const {
  const FamilySocket& socket = socket_of(family);
  return socket.socket ? socket.event.get() : kNoWaitable;
}

bool WinsockBind::reports_local_address() const {
  const FamilySocket& any = sockets_.v4.socket ? sockets_.v4 : sockets_.v6;
  return any.recv_msg != nullptr;
}

Result<WinsockBind::RecvOutcome> WinsockBind::ReceiveOne(const FamilySocket& socket,
                                                         RecvSlot& slot) {
  WSABUF buf{static_cast<ULONG>(std::min<size_t>(slot.buf.size(), ULONG_MAX)),
             reinterpret_cast<CHAR*>(slot.buf.data())};
  sockaddr_storage from{};
  ControlBuffer control;
  WSAMSG msg{};
  msg.name = reinterpret_cast<sockaddr*>(&from);
  msg.namelen = sizeof(from);
  msg.lpBuffers = &buf;
  msg.dwBufferCount = 1;
  DWORD bytes = 0;
  int rc;
  if (socket.recv_msg != nullptr) {
    msg.Control = WSABUF{static_cast<ULONG>(control.bytes.size()), control.bytes.data()};
    rc = socket.recv_msg(socket.socket.get(), &msg, &bytes, nullptr, nullptr);
  } else {
    // No WSARecvMsg: no local address either.
    rc = WSARecvFrom(socket.socket.get(), &buf, 1, &bytes, &msg.dwFlags, msg.name, &msg.namelen,
                     nullptr, nullptr);
  }
  if (rc != 0) {
    const int err = WSAGetLastError();
    if (err == WSAEWOULDBLOCK) return RecvOutcome::kWouldBlock;
    // A report of an earlier datagram's fate, not a datagram (the ICMP ones
    // are off, see DisableConnectionReset; TTL expiry is WSAENETRESET).
    if (err == WSAECONNRESET || err == WSAENETRESET) return RecvOutcome::kSkipped;
    if (err != WSAEMSGSIZE) {
      return Win32Error(static_cast<DWORD>(err), socket.recv_msg != nullptr
                                                     ? "WinsockBind: WSARecvMsg"
                                                     : "WinsockBind: WSARecvFrom");
    }
    // Longer than the slot: the slot holds its first bytes, the rest is gone.
    bytes = buf.len;
  }
  slot.len = std::min<size_t>(bytes, slot.buf.size());
  slot.from = FromSockaddr(from, msg.namelen).value_or(Endpoint());
  slot.local = LocalAddressFromControl(msg);
  return RecvOutcome::kReceived;
}

Result<size_t> WinsockBind::Receive(IpAddress::Family family, std::span<RecvSlot> slots) {
  const FamilySocket& socket = socket_of(family);
  if (!socket.socket) {
    return MakeError(EAFNOSUPPORT, "WinsockBind::Receive: that address family is off");
  }
  const size_t count = std::min(slots.size(), kMaxBatchSize);
  size_t filled = 0;
  // True when the event was reset after the last receive call: a
  // WSAEWOULDBLOCK now means drained, and the event (re-armed by that very
  // call) tells of any datagram that comes later.
  bool just_reset = false;
  for (size_t calls = 0; filled < count && calls < count * kCallsPerSlot; ++calls) {
    auto outcome = ReceiveOne(socket, slots[filled]);
    if (!outcome.ok()) {
      if (filled > 0) break;  // the next call reports it
      return outcome.error();
    }
    switch (*outcome) {
      case RecvOutcome::kReceived:
        ++filled;
        just_reset = false;
        break;
      case RecvOutcome::kSkipped:
        just_reset = false;
        break;
      case RecvOutcome::kWouldBlock:
        if (just_reset) return filled;
        // The receive calls so far may have left the event signalled for
        // datagrams we then took: reset it, and look once more, since one may
        // have arrived between that WSAEWOULDBLOCK and the reset.
        WSAResetEvent(socket.event.get());
        just_reset = true;
        break;
    }
  }
  return filled;
}

Result<bool> WinsockBind::SendOne(const FamilySocket& socket, const SendItem& item) {
  sockaddr_storage to;
  WSABUF buf{static_cast<ULONG>(item.data.size()),
             reinterpret_cast<CHAR*>(const_cast<uint8_t*>(item.data.data()))};
  ControlBuffer control;
  WSAMSG msg{};
  msg.name = reinterpret_cast<sockaddr*>(&to);
  msg.namelen = ToSockaddr(item.to, &to);
  msg.lpBuffers = &buf;
  msg.dwBufferCount = 1;
  if (item.source && item.source->family() == item.to.address().family()) {
    msg.Control = WSABUF{PutSourceControl(*item.source, control), control.bytes.data()};
  }
  for (;;) {
    DWORD sent = 0;
    if (WSASendMsg(socket.socket.get(), &msg, 0, &sent, nullptr, nullptr) == 0) return true;
    const int err = WSAGetLastError();
    if (err == WSAEWOULDBLOCK) return false;
    if (msg.Control.len != 0 && SourceMayBeStale(err)) {
      // The sticky source address may no longer be ours: let routing choose.
      msg.Control = WSABUF{0, nullptr};
      continue;
    }
    return Win32Error(static_cast<DWORD>(err), "WSASendMsg to " + item.to.ToString());
  }
}

Result<size_t> WinsockBind::Send(std::span<const SendItem> items) {
  for (size_t i = 0; i < items.size(); ++i) {
    const FamilySocket& socket = socket_of(items[i].to.address().family());
    Result<bool> sent = socket.socket ? SendOne(socket, items[i]) : FamilyOffError(items[i].to);
    if (!sent.ok()) {
      if (i > 0) return i;  // the next call reports it
      return sent.error();
    }
    if (!*sent) return i;  // socket buffer full
  }
  return items.size();
}

Result<void> WinsockBind::SetFwmark(uint32_t mark) {
  if (mark == 0) return Ok();
  return MakeError(ENOTSUP, "WinsockBind: fwmark " + std::to_string(mark) +
                                " cannot be set: Windows has no fwmark (SO_MARK is Linux's)");
}

Result<void> WinsockBind::Rebind(uint16_t port) {
  if (port != 0 && port == sockets_.port) return Ok();
  auto sockets = OpenSockets(port, listen_);
  if (!sockets.ok()) return sockets.error();
  sockets_ = std::move(*sockets);  // closes the old ones, each socket before its event
  return Ok();
}

}  // namespace zl::net
