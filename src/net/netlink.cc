#include "net/netlink.h"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "net/sockaddr.h"

namespace zl::net {
namespace {

// Large enough for one RTM_NEWLINK with all its attributes (stats, VF info).
constexpr size_t kReceiveBufferSize = 32 * 1024;

using MnlSocket = std::unique_ptr<mnl_socket, void (*)(mnl_socket*)>;

void CloseMnl(mnl_socket* socket) { mnl_socket_close(socket); }

Result<MnlSocket> OpenRtnl(unsigned groups, int flags) {
  mnl_socket* raw = mnl_socket_open2(NETLINK_ROUTE, flags | SOCK_CLOEXEC);
  if (raw == nullptr) return ErrnoError("socket(NETLINK_ROUTE)");
  MnlSocket socket(raw, &CloseMnl);
  if (mnl_socket_bind(raw, groups, MNL_SOCKET_AUTOPID) < 0)
    return ErrnoError("bind(NETLINK_ROUTE)");
  return socket;
}

uint32_t NextSequence() {
  static std::atomic<uint32_t> seq{static_cast<uint32_t>(std::time(nullptr))};
  return seq.fetch_add(1);
}

int ParseLinkAttribute(const nlattr* attr, void* data) {
  auto* link = static_cast<LinkInfo*>(data);
  switch (mnl_attr_get_type(attr)) {
    case IFLA_IFNAME:
      if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
        link->name = mnl_attr_get_str(attr);
      break;
    case IFLA_MTU:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
        link->mtu = mnl_attr_get_u32(attr);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

// Parses an RTM_NEWLINK/RTM_DELLINK message; nullopt for anything else.
std::optional<LinkInfo> ParseLinkMessage(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
    return std::nullopt;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifinfomsg)) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  LinkInfo link;
  link.index = ifi->ifi_index;
  link.up = (ifi->ifi_flags & IFF_UP) != 0;
  mnl_attr_parse(nlh, sizeof(ifinfomsg), ParseLinkAttribute, &link);
  return link;
}

// Sends `nlh` with NLM_F_ACK and reads until the kernel acknowledges it,
// handing each data message to `on_message` (may be null).
Result<void> Transact(nlmsghdr* nlh, std::string_view what, mnl_cb_t on_message,
                      void* data) {
  auto socket = OpenRtnl(0, 0);
  if (!socket.ok()) return socket.error().Wrap(what);
  mnl_socket* nl = socket->get();
  nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = NextSequence();
  const unsigned portid = mnl_socket_get_portid(nl);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return ErrnoError(what);

  std::vector<char> buf(kReceiveBufferSize);
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(what);
    }
    const int ret =
        mnl_cb_run(buf.data(), n, nlh->nlmsg_seq, portid, on_message, data);
    if (ret == MNL_CB_ERROR) return ErrnoError(what);
    if (ret == MNL_CB_STOP) return Ok();
  }
}

// Builds an RTM_NEWLINK/RTM_GETLINK request for `ifindex` in `buf`.
nlmsghdr* PrepareLinkRequest(char* buf, uint16_t type, int ifindex,
                             ifinfomsg** ifi) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  *ifi = static_cast<ifinfomsg*>(
      mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  (*ifi)->ifi_family = AF_UNSPEC;
  (*ifi)->ifi_index = ifindex;
  return nlh;
}

std::string LinkName(int ifindex) { return "link " + std::to_string(ifindex); }

// RTM_NEWADDR / RTM_DELADDR for one address of `ifindex`.
Result<void> ChangeAddress(uint16_t type, uint16_t flags, int ifindex,
                           const IpAddress& address, uint8_t prefix_len,
                           std::string_view what) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  const bool v4 = address.is_v4();
  ifa->ifa_family = v4 ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = prefix_len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  if (!v4) ifa->ifa_flags = IFA_F_NODAD;
  const uint8_t* data = address.bytes().data();
  const size_t len = address.size();
  mnl_attr_put(nlh, IFA_LOCAL, len, data);
  mnl_attr_put(nlh, IFA_ADDRESS, len, data);
  if (!v4) mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
  return Transact(nlh, what, nullptr, nullptr);
}

}  // namespace

Result<int> InterfaceIndex(std::string_view name) {
  const std::string copy(name);
  const unsigned index = ::if_nametoindex(copy.c_str());
  if (index == 0) {
    if (errno == ENODEV || errno == ENXIO)
      return MakeError(ENODEV, "no interface named \"" + copy + "\"");
    return ErrnoError("if_nametoindex(" + copy + ")");
  }
  return static_cast<int>(index);
}

Result<LinkInfo> GetLink(int ifindex) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  ifinfomsg* ifi;
  nlmsghdr* nlh = PrepareLinkRequest(buf, RTM_GETLINK, ifindex, &ifi);
  std::optional<LinkInfo> link;
  auto on_message = [](const nlmsghdr* msg, void* data) -> int {
    auto* out = static_cast<std::optional<LinkInfo>*>(data);
    if (auto parsed = ParseLinkMessage(msg)) *out = std::move(parsed);
    return MNL_CB_OK;
  };
  ZL_RETURN_IF_ERROR(
      Transact(nlh, "RTM_GETLINK " + LinkName(ifindex), on_message, &link));
  if (!link)
    return MakeError(ENODEV, "RTM_GETLINK " + LinkName(ifindex) + ": no reply");
  return std::move(*link);
}

namespace {

struct TunLinkParse {
  bool is_tun = false;     // IFLA_INFO_KIND "tun"
  bool described = false;  // IFLA_INFO_DATA came
  TunLinkInfo info;
};

int ParseTunData(const nlattr* attr, void* data) {
  auto* out = static_cast<TunLinkParse*>(data);
  const bool u8 = mnl_attr_validate(attr, MNL_TYPE_U8) >= 0;
  const bool u32 = mnl_attr_validate(attr, MNL_TYPE_U32) >= 0;
  switch (mnl_attr_get_type(attr)) {
    case IFLA_TUN_TYPE:
      if (u8) out->info.tap = (mnl_attr_get_u8(attr) & IFF_TAP) != 0;
      break;
    case IFLA_TUN_MULTI_QUEUE:
      if (u8) out->info.multi_queue = mnl_attr_get_u8(attr) != 0;
      break;
    case IFLA_TUN_PERSIST:
      if (u8) out->info.persistent = mnl_attr_get_u8(attr) != 0;
      break;
    case IFLA_TUN_NUM_QUEUES:
    case IFLA_TUN_NUM_DISABLED_QUEUES:
      if (u32) out->info.queues += mnl_attr_get_u32(attr);
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

int ParseLinkInfoNest(const nlattr* attr, void* data) {
  auto* out = static_cast<TunLinkParse*>(data);
  switch (mnl_attr_get_type(attr)) {
    case IFLA_INFO_KIND:
      if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
        out->is_tun = std::string_view(mnl_attr_get_str(attr)) == "tun";
      break;
    case IFLA_INFO_DATA:
      if (mnl_attr_validate(attr, MNL_TYPE_NESTED) >= 0) {
        out->described = true;
        mnl_attr_parse_nested(attr, ParseTunData, out);
      }
      break;
    default:
      break;
  }
  return MNL_CB_OK;
}

}  // namespace

Result<std::optional<TunLinkInfo>> GetTunLink(int ifindex) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  ifinfomsg* ifi;
  nlmsghdr* nlh = PrepareLinkRequest(buf, RTM_GETLINK, ifindex, &ifi);
  TunLinkParse parse;
  auto on_message = [](const nlmsghdr* msg, void* data) -> int {
    if (msg->nlmsg_type != RTM_NEWLINK ||
        mnl_nlmsg_get_payload_len(msg) < sizeof(ifinfomsg))
      return MNL_CB_OK;
    mnl_attr_parse(
        msg, sizeof(ifinfomsg),
        [](const nlattr* attr, void* out) -> int {
          if (mnl_attr_get_type(attr) == IFLA_LINKINFO &&
              mnl_attr_validate(attr, MNL_TYPE_NESTED) >= 0)
            mnl_attr_parse_nested(attr, ParseLinkInfoNest, out);
          return MNL_CB_OK;
        },
        data);
    return MNL_CB_OK;
  };
  ZL_RETURN_IF_ERROR(
      Transact(nlh, "RTM_GETLINK " + LinkName(ifindex), on_message, &parse));
  if (!parse.is_tun || !parse.described) return std::optional<TunLinkInfo>();
  return std::optional<TunLinkInfo>(parse.info);
}

Result<void> SetLinkUp(int ifindex, bool up) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  ifinfomsg* ifi;
  nlmsghdr* nlh = PrepareLinkRequest(buf, RTM_NEWLINK, ifindex, &ifi);
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = up ? IFF_UP : 0;
  return Transact(nlh, "set " + LinkName(ifindex) + (up ? " up" : " down"),
                  nullptr, nullptr);
}

namespace {

// Sets one 32-bit attribute of the link (RTM_NEWLINK); `what` names the
// change in errors ("mtu 1420").
Result<void> SetLinkU32(int ifindex, uint16_t attribute, uint32_t value,
                        const std::string& what) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  ifinfomsg* ifi;
  nlmsghdr* nlh = PrepareLinkRequest(buf, RTM_NEWLINK, ifindex, &ifi);
  mnl_attr_put_u32(nlh, attribute, value);
  return Transact(nlh, "set " + LinkName(ifindex) + " " + what, nullptr, nullptr);
}

}  // namespace

Result<void> SetLinkMtu(int ifindex, uint32_t mtu) {
  return SetLinkU32(ifindex, IFLA_MTU, mtu, "mtu " + std::to_string(mtu));
}

Result<void> SetLinkTxQueueLen(int ifindex, uint32_t packets) {
  return SetLinkU32(ifindex, IFLA_TXQLEN, packets, "txqueuelen " + std::to_string(packets));
}

Result<std::unique_ptr<LinkWatcher>> LinkWatcher::Create(int ifindex) {
  auto socket = OpenRtnl(RTMGRP_LINK, SOCK_NONBLOCK);
  if (!socket.ok()) return socket.error().Wrap("LinkWatcher");
  return std::unique_ptr<LinkWatcher>(
      new LinkWatcher(std::move(*socket), ifindex));
}

LinkWatcher::LinkWatcher(Socket socket, int ifindex)
    : socket_(std::move(socket)), ifindex_(ifindex) {}

LinkWatcher::~LinkWatcher() = default;

int LinkWatcher::fd() const { return mnl_socket_get_fd(socket_.get()); }

Result<std::vector<LinkEvent>> LinkWatcher::ReadEvents() {
  struct Context {
    int ifindex;
    std::vector<LinkEvent> events;
  } ctx{ifindex_, {}};
  auto on_message = [](const nlmsghdr* msg, void* data) -> int {
    auto* c = static_cast<Context*>(data);
    auto link = ParseLinkMessage(msg);
    if (!link || link->index != c->ifindex) return MNL_CB_OK;
    const auto kind = msg->nlmsg_type == RTM_DELLINK
                          ? LinkEvent::Kind::kDeleted
                          : LinkEvent::Kind::kChanged;
    c->events.push_back(LinkEvent{kind, std::move(*link)});
    return MNL_CB_OK;
  };

  std::vector<char> buf(kReceiveBufferSize);
  bool lost = false;
  for (;;) {
    const ssize_t n =
        mnl_socket_recvfrom(socket_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {  // the kernel dropped notifications
        lost = true;
        continue;
      }
      return ErrnoError("LinkWatcher: recv");
    }
    // Sequence 0 and port 0: notifications, not answers to a request.
    if (mnl_cb_run(buf.data(), n, 0, 0, on_message, &ctx) == MNL_CB_ERROR) {
      return ErrnoError("LinkWatcher: parse");
    }
  }

  if (lost) {
    auto link = GetLink(ifindex_);
    if (link.ok()) {
      ctx.events.push_back(
          LinkEvent{LinkEvent::Kind::kChanged, std::move(*link)});
    } else if (link.error().code() == ENODEV) {
      LinkInfo gone;
      gone.index = ifindex_;
      ctx.events.push_back(
          LinkEvent{LinkEvent::Kind::kDeleted, std::move(gone)});
    } else {
      return link.error().Wrap("LinkWatcher: resync after lost notifications");
    }
  }
  return std::move(ctx.events);
}

Result<void> AddAddress(int ifindex, const IpAddress& address, uint8_t prefix_len) {
  const std::string what = "add address " + address.ToString() + "/" +
                           std::to_string(prefix_len) + " to " + LinkName(ifindex);
  auto r = ChangeAddress(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, address,
                         prefix_len, what);
  if (!r.ok() && r.error().code() == EEXIST) return Ok();
  return r;
}

Result<void> RemoveAddress(int ifindex, const IpAddress& address, uint8_t prefix_len) {
  const std::string what = "remove address " + address.ToString() + "/" +
                           std::to_string(prefix_len) + " from " + LinkName(ifindex);
  auto r = ChangeAddress(RTM_DELADDR, 0, ifindex, address, prefix_len, what);
  if (!r.ok() && (r.error().code() == EADDRNOTAVAIL || r.error().code() == ENODEV)) return Ok();
  return r;
}

Result<IpAddress> DefaultRouteSource() {
  // Documentation addresses (RFC 5737, RFC 3849): any route to them is the
  // default route. connect() on UDP only picks the route; nothing is sent.
  for (const char* probe : {"192.0.2.1", "2001:db8::1"}) {
    auto target = IpAddress::Parse(probe);
    if (!target.ok()) continue;
    sockaddr_storage remote{};
    const socklen_t remote_len = ToSockaddr(Endpoint(*target, 9), &remote);
    UniqueFd fd(::socket(remote.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) continue;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&remote), remote_len) != 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    auto ep = FromSockaddr(local, len);
    if (ep && !ep->address().IsUnspecified()) return ep->address();
  }
  return MakeError(ENETUNREACH, "no default route");
}

}  // namespace zl::net
