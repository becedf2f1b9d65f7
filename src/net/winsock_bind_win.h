#pragma once
// WinsockBind: the Bind (bind.h) of Windows: one IPv4 and one IPv6 socket
// (IPV6_V6ONLY) on the same port, non-blocking, each with an event from
// WSAEventSelect(FD_READ) as its readiness. Sticky replies: WSARecvMsg reports
// each datagram's local address (IP_PKTINFO/IPV6_PKTINFO), and WSASendMsg sends
// from SendItem::source with an IN_PKTINFO/IN6_PKTINFO control message.
// Winsock has no recvmmsg/sendmmsg: a batch is one call per datagram.
// docs/ARCHITECTURE.md, "Windows", says why this and not RIO yet.
//
// Each socket also has:
//   - SIO_UDP_CONNRESET off, so an ICMP port unreachable (a peer gone) does
//     not make the next receive fail with WSAECONNRESET;
//   - SO_EXCLUSIVEADDRUSE, so no other socket can bind the port with
//     SO_REUSEADDR and take our datagrams;
//   - SO_RCVBUF/SO_SNDBUF of kSocketBufferSize (what the stack grants).
//
// Readiness (the level-triggered contract of waitable.h): waitable(family) is
// the socket's manual-reset event. Winsock signals it when a datagram is
// waiting, and again after each receive call that leaves one waiting.
// Receive resets it when the socket says WSAEWOULDBLOCK and then looks once
// more, so a datagram that came in between is received, not missed. Hence:
//   - Receive returning fewer than asked means the socket was drained, and
//     its event is unsignalled unless a datagram arrived since;
//   - Receive returning as many as asked leaves the event signalled if
//     datagrams remain (possibly also when none do: the next Receive then
//     returns 0 and resets it).
// A waiter therefore wakes as long as datagrams wait, as on a readable fd.
//
// If the provider has no WSARecvMsg (SIO_GET_EXTENSION_FUNCTION_POINTER
// fails), Receive falls back to WSARecvFrom and RecvSlot::local is nullopt:
// replies then leave from the address routing picks.
//
// Thread safety and ownership: see bind.h. Each socket is closed before its
// event (closesocket ends the WSAEventSelect association first).
//
// Windows-only (net/ *_win files).

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <mswsock.h>
#include <windows.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "base/result.h"
#include "net/bind.h"
#include "net/unique_handle_win.h"
#include "net/winsock_win.h"

namespace zl::net {

class WinsockBind final : public Bind {
 public:
  // Opens both sockets on `port` (0: one free for both families; retried a
  // few times if the port Windows picked for IPv4 is taken in IPv6). A family
  // whose socket cannot be created at all (WSAEAFNOSUPPORT: no IPv6 stack)
  // is left off; any other failure fails (EADDRINUSE: the port is taken).
  static Result<std::unique_ptr<WinsockBind>> Open(
      uint16_t port, ListenAddresses listen = ListenAddresses::Any());

  uint16_t port() const override { return sockets_.port; }
  // The socket's WSAEventSelect event (a HANDLE); kNoWaitable if off.
  Waitable waitable(IpAddress::Family family) const override;
  Result<size_t> Receive(IpAddress::Family family, std::span<RecvSlot> slots) override;
  Result<size_t> Send(std::span<const SendItem> items) override;
  // Windows has no fwmark: Ok for 0, ENOTSUP otherwise.
  Result<void> SetFwmark(uint32_t mark) override;
  Result<void> Rebind(uint16_t port) override;

  // Whether received datagrams report their local address (WSARecvMsg).
  bool reports_local_address() const;

 private:
  // A socket and its event. Whatever replaces or destroys one closes the
  // socket first, so Winsock never signals an event handle already closed
  // (and perhaps reused).
  struct FamilySocket {
    FamilySocket() = default;
    FamilySocket(FamilySocket&&) noexcept = default;
    FamilySocket& operator=(FamilySocket&& other) noexcept {
      socket = std::move(other.socket);
      event = std::move(other.event);
      recv_msg = other.recv_msg;
      return *this;
    }

    UniqueHandle event;   // declared first: destroyed after the socket
    UniqueSocket socket;  // non-blocking, associated with `event`
    LPFN_WSARECVMSG recv_msg = nullptr;  // nullptr: WSARecvFrom, no local address
  };
  struct Sockets {
    FamilySocket v4;
    FamilySocket v6;
    uint16_t port = 0;
  };
  // What one receive call got.
  enum class RecvOutcome { kReceived, kWouldBlock, kSkipped };

  WinsockBind(Sockets sockets, ListenAddresses listen);
  static Result<Sockets> OpenSockets(uint16_t port, const ListenAddresses& listen);
  static Result<FamilySocket> OpenSocket(const IpAddress& address, uint16_t port);
  const FamilySocket& socket_of(IpAddress::Family family) const {
    return family == IpAddress::Family::kV4 ? sockets_.v4 : sockets_.v6;
  }
  static Result<RecvOutcome> ReceiveOne(const FamilySocket& socket, RecvSlot& slot);
  // Sends one item; Ok(false) when the socket buffer is full.
  static Result<bool> SendOne(const FamilySocket& socket, const SendItem& item);

  Sockets sockets_;
  ListenAddresses listen_;
};

}  // namespace zl::net
