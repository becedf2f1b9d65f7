#include "net/linux_tun.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/unique_fd.h"
#include "net/netlink.h"

namespace zl::net {
namespace {

constexpr char kTunPath[] = "/dev/net/tun";

// The kernel's dev_valid_name(), with messages.
Result<void> ValidateName(std::string_view name) {
  auto invalid = [&](std::string_view why) {
    return MakeError(EINVAL, "invalid interface name \"" + std::string(name) +
                                 "\": " + std::string(why));
  };
  if (name.empty()) return invalid("empty");
  if (name.size() >= IFNAMSIZ) {
    return invalid("longer than " + std::to_string(IFNAMSIZ - 1) + " bytes");
  }
  if (name == "." || name == "..") return invalid("reserved");
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' ||
        std::isspace(static_cast<unsigned char>(c))) {
      return invalid("contains '/', ':', NUL or whitespace");
    }
  }
  return Ok();
}

class LinuxTun final : public TunDevice {
 public:
  LinuxTun(UniqueFd fd, std::string name, int index)
      : fd_(std::move(fd)), name_(std::move(name)), index_(index) {}

  const std::string& name() const override { return name_; }
  int index() const override { return index_; }
  Waitable waitable() const override { return fd_.get(); }

  Result<size_t> ReadBatch(std::span<TunPacket> packets) override {
    size_t count = 0;
    while (count < packets.size()) {
      TunPacket& packet = packets[count];
      const ssize_t n = ::read(fd_.get(), packet.buf.data(), packet.buf.size());
      if (n >= 0) {
        packet.len = static_cast<size_t>(n);
        ++count;
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || count > 0) break;
      // EBADFD: the interface was deleted under us.
      return ErrnoError("read from TUN " + name_);
    }
    return count;
  }

  Result<void> Write(ByteSpan packet) override {
    for (;;) {
      const ssize_t n = ::write(fd_.get(), packet.data(), packet.size());
      if (n >= 0) return Ok();
      if (errno != EINTR) return ErrnoError("write to TUN " + name_);
    }
  }

  Result<int> Mtu() const override {
    auto link = GetLink(index_);
    if (!link.ok()) return link.error().Wrap("TUN " + name_);
    return static_cast<int>(link->mtu);
  }

  Result<void> SetMtu(int mtu) override {
    if (mtu <= 0)
      return MakeError(EINVAL,
                       "TUN " + name_ + ": invalid MTU " + std::to_string(mtu));
    auto r = SetLinkMtu(index_, static_cast<uint32_t>(mtu));
    if (!r.ok()) return r.error().Wrap("TUN " + name_);
    return Ok();
  }

  Result<void> SetUp() override {
    auto r = SetLinkUp(index_, true);
    if (!r.ok()) return r.error().Wrap("TUN " + name_);
    return Ok();
  }

 private:
  UniqueFd fd_;
  std::string name_;
  int index_;
};

// ErrnoError(err, what) with a hint in parentheses after the errno text.
Error HintedError(int err, const std::string& what, const std::string& hint) {
  return Error(err, ErrnoError(err, what).message() + " (" + hint + ")");
}

// Whether this process has CAP_NET_ADMIN in its effective set, which
// TUNSETIFF needs to create an interface.
bool HasCapNetAdmin() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32))) !=
         0;
}

// Opening /dev/net/tun takes no capability: only the file's permissions,
// the device cgroup and security modules decide.
Error OpenError(int err) {
  const std::string what = std::string("open ") + kTunPath;
  switch (err) {
    case ENOENT:
    case ENXIO:
    case ENODEV:
      return HintedError(err, what,
                         "is the tun module loaded? a container needs the "
                         "device passed in");
    case EACCES:
      return HintedError(
          err, what,
          "its file permissions do not let uid " + std::to_string(::geteuid()) +
              " read and write it; CAP_NET_ADMIN does not change that");
    case EPERM:
      return HintedError(err, what,
                         "a device cgroup or a security module forbids it; "
                         "a container must be allowed the device");
    default:
      return ErrnoError(err, what);
  }
}

Error SetIffError(int err, const std::string& name) {
  const std::string what = "create TUN " + name + ": TUNSETIFF";
  switch (err) {
    case EPERM:
      if (!HasCapNetAdmin()) {
        return HintedError(err, what,
                           "creating a TUN needs root or CAP_NET_ADMIN, "
                           "which this process lacks");
      }
      return HintedError(err, what,
                         "this process has CAP_NET_ADMIN: the persistent TUN "
                         "belongs to another user or group, or a security "
                         "module forbids it");
    case EBUSY:
      return MakeError(
          EBUSY,
          what + ": a TUN of that name is already in use by another process");
    case EINVAL:
      // The kernel answers EINVAL when the name belongs to a TAP, a
      // multiqueue TUN or a non-TUN interface.
      if (InterfaceIndex(name).ok()) {
        return MakeError(EBUSY, what + ": interface \"" + name +
                                    "\" exists and is not a single-queue TUN");
      }
      return ErrnoError(err, what);
    default:
      return ErrnoError(err, what);
  }
}

// The attached TUN `fd` as a TunDevice named `name`, with the given MTU.
Result<std::unique_ptr<TunDevice>> MakeTun(UniqueFd fd, std::string name,
                                           int mtu) {
  auto index = InterfaceIndex(name);
  if (!index.ok()) return index.error().Wrap("TUN " + name);
  auto tun = std::make_unique<LinuxTun>(std::move(fd), std::move(name), *index);
  ZL_RETURN_IF_ERROR(tun->SetMtu(mtu));
  return std::unique_ptr<TunDevice>(std::move(tun));
}

}  // namespace

Result<std::unique_ptr<TunDevice>> CreateLinuxTun(std::string_view name,
                                                  int mtu, LinuxTunOptions options) {
  (void)options;  // offloads: issue 11, in progress
  ZL_RETURN_IF_ERROR(ValidateName(name));
  if (mtu <= 0) return MakeError(EINVAL, "invalid MTU " + std::to_string(mtu));

  UniqueFd fd(::open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return OpenError(errno);

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0)
    return SetIffError(errno, std::string(name));
  // The kernel may have expanded a "%d".
  std::string actual(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  return MakeTun(std::move(fd), std::move(actual), mtu);
}

Result<std::unique_ptr<TunDevice>> AdoptLinuxTun(UniqueFd fd, int mtu) {
  const std::string what = "descriptor " + std::to_string(fd.get());
  if (mtu <= 0) return MakeError(EINVAL, "invalid MTU " + std::to_string(mtu));
  if (!fd || ::fcntl(fd.get(), F_GETFD) < 0) {
    return MakeError(EBADF, what + " is not open");
  }
  ifreq ifr{};
  if (::ioctl(fd.get(), TUNGETIFF, &ifr) != 0) {
    return ErrnoError(
        what + " is not a TUN device attached to an interface: TUNGETIFF");
  }
  const int flags = ifr.ifr_flags;
  std::string name(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  if ((flags & (IFF_TUN | IFF_TAP)) != IFF_TUN) {
    return MakeError(EINVAL, what + " is the TAP device " + name +
                                 ", not a TUN (open it with IFF_TUN)");
  }
  if ((flags & IFF_NO_PI) == 0 || (flags & IFF_VNET_HDR) != 0) {
    return MakeError(EINVAL, what + " (TUN " + name +
                                 ") must be opened with IFF_NO_PI and "
                                 "without IFF_VNET_HDR");
  }
  if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0) {
    return ErrnoError(what + ": set FD_CLOEXEC");
  }
  const int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK) != 0) {
    return ErrnoError(what + ": set O_NONBLOCK");
  }
  return MakeTun(std::move(fd), std::move(name), mtu);
}

}  // namespace zl::net
