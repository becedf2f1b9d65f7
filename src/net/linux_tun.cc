#include "net/linux_tun.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/unique_fd.h"
#include "net/netlink.h"
#include "net/tun_coalesce.h"
#include "net/tun_segment.h"
#include "net/virtio_net_hdr.h"

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

// The largest packet a TUN hands over: an IPv6 header and a full 16-bit
// payload length (an IPv4 super-packet is at most 65535 bytes).
constexpr size_t kMaxSuperPacket = 40 + 65535;

// The offload flags (TUNSETOFFLOAD) asked for, best first; the first the
// kernel takes is in effect. USO needs Linux 6.2.
constexpr unsigned kOffloadChoices[] = {
    kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFUso4 | kTunFUso6,
    kTunFCsum | kTunFTso4 | kTunFTso6,
    kTunFCsum,
};

std::string OffloadNames(unsigned flags) {
  std::string names;
  auto add = [&](unsigned flag, const char* name) {
    if ((flags & flag) == 0) return;
    if (!names.empty()) names += ' ';
    names += name;
  };
  add(kTunFCsum, "csum");
  add(kTunFTso4, "tso4");
  add(kTunFTso6, "tso6");
  add(kTunFUso4, "uso4");
  add(kTunFUso6, "uso6");
  return names;
}

class LinuxTun final : public TunDevice {
 public:
  // `offloads`: the TUNSETOFFLOAD flags in effect, 0 for a plain TUN (no
  // IFF_VNET_HDR). `multi_queue`: attached with IFF_MULTI_QUEUE.
  LinuxTun(UniqueFd fd, std::string name, int index, unsigned offloads,
           bool multi_queue)
      : fd_(std::move(fd)),
        name_(std::move(name)),
        index_(index),
        offloads_(offloads),
        multi_queue_(multi_queue),
        // WriteBatch's packets were decrypted, so authenticated by their
        // Poly1305 tag: their checksums are trusted, as the kernel's
        // WireGuard trusts them (CHECKSUM_UNNECESSARY), and neither the
        // coalescer nor the kernel verifies them (tun_coalesce.h).
        coalescer_(TunCoalescer::Options{
            .tcp = (offloads & kTunFTso4) != 0 && (offloads & kTunFTso6) != 0,
            .udp = (offloads & kTunFUso4) != 0 && (offloads & kTunFUso6) != 0,
            .verify_checksums = false}) {
    if (offloads_ != 0) super_.resize(kMaxSuperPacket);
  }

  const std::string& name() const override { return name_; }
  int index() const override { return index_; }
  Waitable waitable() const override { return fd_.get(); }
  std::string offloads() const override { return OffloadNames(offloads_); }

  Result<std::unique_ptr<TunDevice>> OpenQueue() override;

  Result<size_t> ReadBatch(std::span<TunPacket> packets) override {
    return offloads_ != 0 ? ReadBatchOffload(packets) : ReadBatchPlain(packets);
  }

  Result<void> Write(ByteSpan packet) override {
    if (offloads_ == 0) {
      for (;;) {
        const ssize_t n = ::write(fd_.get(), packet.data(), packet.size());
        if (n >= 0) return Ok();
        if (errno != EINTR) return ErrnoError("write to TUN " + name_);
      }
    }
    // An all-zero header: no GSO, no checksum to fill.
    static constexpr uint8_t kPlainHeader[kVirtioNetHdrSize] = {};
    const iovec iov[2] = {
        {const_cast<uint8_t*>(kPlainHeader), sizeof(kPlainHeader)},
        {const_cast<uint8_t*>(packet.data()), packet.size()}};
    return WriteV(iov);
  }

  size_t WriteBatch(std::span<const MutableByteSpan> packets) override {
    if (offloads_ == 0) return TunDevice::WriteBatch(packets);
    std::lock_guard lock(write_mutex_);
    size_t failed = 0;
    for (const TunWrite& write : coalescer_.Plan(packets)) {
      if (!WriteV(write.iov).ok()) failed += write.packets;
    }
    return failed;
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
  // A super-packet in super_ whose segments did not all fit the caller's
  // slots: the rest goes out first on the next ReadBatch.
  struct Pending {
    GsoSplit split;
    size_t length = 0;  // bytes of the super-packet in super_
    size_t next = 0;    // the first segment not yet handed out
  };

  Result<size_t> ReadBatchPlain(std::span<TunPacket> packets) {
    size_t count = 0;
    while (count < packets.size()) {
      TunPacket& packet = packets[count];
      const ssize_t n = ::read(fd_.get(), packet.buf.data(), packet.buf.size());
      if (n >= 0) {
        // The kernel reports a truncated packet's full length.
        packet.len = std::min(static_cast<size_t>(n), packet.buf.size());
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

  // Each read is a VirtioNetHdr and a packet: a plain one (its checksum
  // perhaps to complete) goes to its slot as it came; a super-packet is read
  // on into super_, made whole there and split into the following slots.
  Result<size_t> ReadBatchOffload(std::span<TunPacket> packets) {
    size_t count = TakePending(packets);
    while (count < packets.size()) {
      TunPacket& slot = packets[count];
      uint8_t header_bytes[kVirtioNetHdrSize];
      // The packet's bytes past the slot go to super_ at the same offset.
      const size_t slot_size = slot.buf.size();
      const size_t spill =
          slot_size < super_.size() ? super_.size() - slot_size : 0;
      iovec iov[3] = {{header_bytes, sizeof(header_bytes)},
                      {slot.buf.data(), slot_size},
                      {super_.data() + (spill != 0 ? slot_size : 0), spill}};
      const ssize_t n = ::readv(fd_.get(), iov, 3);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || count > 0) break;
        return ErrnoError("read from TUN " + name_);
      }
      if (static_cast<size_t>(n) < kVirtioNetHdrSize) {
        Drop(MakeError(EINVAL, "read of " + std::to_string(n) +
                                   " bytes, no virtio-net header"));
        continue;
      }
      const VirtioNetHdr header = ParseVirtioNetHdr(ByteSpan(header_bytes));
      // The kernel reports a truncated packet's full length.
      const size_t length = static_cast<size_t>(n) - kVirtioNetHdrSize;
      const size_t in_slot = std::min(length, slot_size);
      if (header.gso_type == kVirtioNetHdrGsoNone && length <= slot_size) {
        auto completed = CompleteChecksum(header, slot.buf.first(length));
        if (!completed.ok()) {
          Drop(completed.error());
          continue;
        }
        slot.len = length;
        ++count;
        continue;
      }
      if (length > super_.size()) {
        Drop(MakeError(EMSGSIZE,
                       "packet of " + std::to_string(length) + " bytes"));
        continue;
      }
      std::memcpy(super_.data(), slot.buf.data(), in_slot);
      const MutableByteSpan whole(super_.data(), length);
      if (header.gso_type == kVirtioNetHdrGsoNone) {
        // Longer than its slot: truncated, as a plain TUN does.
        auto completed = CompleteChecksum(header, whole);
        if (!completed.ok()) {
          Drop(completed.error());
          continue;
        }
        std::memcpy(slot.buf.data(), super_.data(), in_slot);
        slot.len = in_slot;
        ++count;
        continue;
      }
      auto split = ParseSuperPacket(header, whole);
      if (!split.ok()) {
        Drop(split.error());
        continue;
      }
      pending_ = Pending{*split, length, 0};
      count += TakePending(packets.subspan(count));
    }
    return count;
  }

  // Moves pending segments into `out`; how many it moved.
  size_t TakePending(std::span<TunPacket> out) {
    if (!pending_) return 0;
    auto n = WriteSegments(pending_->split,
                           ByteSpan(super_.data(), pending_->length),
                           pending_->next, out);
    if (!n.ok()) {
      Drop(n.error());
      pending_.reset();
      return 0;
    }
    pending_->next += *n;
    if (pending_->next >= pending_->split.segments) pending_.reset();
    return *n;
  }

  void Drop(const Error& error) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    LogVerbose("TUN " + name_ + ": dropped a packet read: " + error.message());
  }

  Result<void> WriteV(std::span<const iovec> iov) {
    for (;;) {
      const ssize_t n =
          ::writev(fd_.get(), iov.data(), static_cast<int>(iov.size()));
      if (n >= 0) return Ok();
      if (errno != EINTR) return ErrnoError("write to TUN " + name_);
    }
  }

  UniqueFd fd_;
  std::string name_;
  int index_;
  const unsigned offloads_;
  const bool multi_queue_;
  // The reader's: a super-packet being split, and what is left of it.
  std::vector<uint8_t> super_;
  std::optional<Pending> pending_;
  std::atomic<uint64_t> dropped_{0};  // packets read that were malformed
  // WriteBatch's (one planner for all writers).
  std::mutex write_mutex_;
  TunCoalescer coalescer_;  // guarded by write_mutex_
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

Error InUseError(const std::string& what) {
  return MakeError(
      EBUSY,
      what + ": a TUN of that name is already in use by another process");
}

// Why TUNSETIFF answered EINVAL for the existing interface `name`: a TAP or
// non-TUN interface (EBUSY: the name is taken), or a TUN of the other queue
// mode (EINVAL: the kernel never mixes them).
Error ExistingInterfaceError(const std::string& what, const std::string& name,
                             bool multi_queue) {
  auto index = InterfaceIndex(name);
  if (!index.ok()) return ErrnoError(EINVAL, what);
  auto tun = GetTunLink(*index);
  if (tun.ok() && *tun && !(*tun)->tap && (*tun)->multi_queue != multi_queue) {
    return MakeError(EINVAL,
                     what + ": the existing TUN \"" + name + "\" is " +
                         ((*tun)->multi_queue
                              ? "multi-queue; ask for multi_queue to reuse it"
                              : "single-queue; multi_queue cannot attach to it "
                                "(delete it, or recreate it multi-queue)"));
  }
  if (tun.ok() && *tun && !(*tun)->tap) return ErrnoError(EINVAL, what);
  return MakeError(
      EBUSY, what + ": interface \"" + name + "\" exists and is not " +
                 (multi_queue ? "a multi-queue TUN" : "a single-queue TUN"));
}

Error SetIffError(int err, const std::string& name, bool multi_queue) {
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
      return InUseError(what);
    case EINVAL:
      // The kernel answers EINVAL when the name belongs to a TAP, a TUN of
      // the other queue mode or a non-TUN interface.
      return ExistingInterfaceError(what, name, multi_queue);
    default:
      return ErrnoError(err, what);
  }
}

// The attached TUN `fd` as a TunDevice named `name`, with the given MTU.
Result<std::unique_ptr<TunDevice>> MakeTun(UniqueFd fd, std::string name,
                                           int mtu, unsigned offloads,
                                           bool multi_queue) {
  auto index = InterfaceIndex(name);
  if (!index.ok()) return index.error().Wrap("TUN " + name);
  auto tun = std::make_unique<LinuxTun>(std::move(fd), std::move(name), *index,
                                        offloads, multi_queue);
  ZL_RETURN_IF_ERROR(tun->SetMtu(mtu));
  return std::unique_ptr<TunDevice>(std::move(tun));
}

struct AttachedTun {
  UniqueFd fd;
  std::string name;  // the kernel may have expanded a "%d"
  bool vnet_hdr = false;
};

// TUNSETIFF's flags for a TUN of ours.
short TunFlags(bool vnet_hdr, bool multi_queue) {
  return static_cast<short>(IFF_TUN | IFF_NO_PI |
                            (vnet_hdr ? IFF_VNET_HDR : 0) |
                            (multi_queue ? IFF_MULTI_QUEUE : 0));
}

// Opens /dev/net/tun and attaches it to (or creates) the TUN `name`, with
// IFF_VNET_HDR if `vnet_hdr` and the kernel takes it, else plain.
Result<AttachedTun> AttachTun(std::string_view name, bool vnet_hdr,
                              bool multi_queue) {
  UniqueFd fd(::open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return OpenError(errno);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = TunFlags(vnet_hdr, multi_queue);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    // EINVAL: a kernel without IFF_VNET_HDR for TUN, or a name that is not a
    // TUN (of this queue mode); asking plain tells which (and the error says
    // it).
    if (!vnet_hdr || errno != EINVAL)
      return SetIffError(errno, std::string(name), multi_queue);
    vnet_hdr = false;
    ifr.ifr_flags = TunFlags(false, multi_queue);
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0)
      return SetIffError(errno, std::string(name), multi_queue);
  }
  return AttachedTun{std::move(fd),
                     std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ)),
                     vnet_hdr};
}

// A multi-queue TUN takes any number of descriptors, so TUNSETIFF does not
// answer EBUSY for one in use as it does for a single-queue TUN: tell it
// from the queues the kernel reports.
Result<void> CheckNoQueueAttached(std::string_view name) {
  auto index = InterfaceIndex(name);
  if (!index.ok()) return Ok();  // to be created
  auto tun = GetTunLink(*index);
  if (tun.ok() && *tun && (*tun)->multi_queue && (*tun)->queues > 0)
    return InUseError("create TUN " + std::string(name) + ": TUNSETIFF");
  return Ok();
}

}  // namespace

Result<std::unique_ptr<TunDevice>> LinuxTun::OpenQueue() {
  const std::string what = "open TUN queue of " + name_;
  if (!multi_queue_) {
    return MakeError(ENOTSUP, what +
                                  ": it was created single-queue "
                                  "(LinuxTunOptions::multi_queue)");
  }
  UniqueFd fd(::open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return OpenError(errno).Wrap(what);
  // IFF_VNET_HDR, the offloads and the header size belong to the interface
  // (the kernel ignores a later queue's feature flags): the same flags as
  // the first queue, and nothing to set after.
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name_.data(), name_.size());
  ifr.ifr_flags = TunFlags(offloads_ != 0, true);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0)
    return ErrnoError(what + ": TUNSETIFF");
  // Attaching by name creates an interface if ours is gone: closing `fd`
  // removes that one again.
  auto index = InterfaceIndex(name_);
  if (!index.ok() || *index != index_) {
    return MakeError(ENODEV, what + ": the interface (index " +
                                 std::to_string(index_) + ") is gone");
  }
  return std::unique_ptr<TunDevice>(std::make_unique<LinuxTun>(
      std::move(fd), name_, index_, offloads_, true));
}

Result<std::unique_ptr<TunDevice>> CreateLinuxTun(std::string_view name,
                                                  int mtu,
                                                  LinuxTunOptions options) {
  ZL_RETURN_IF_ERROR(ValidateName(name));
  if (mtu <= 0) return MakeError(EINVAL, "invalid MTU " + std::to_string(mtu));

  if (options.multi_queue) ZL_RETURN_IF_ERROR(CheckNoQueueAttached(name));
  auto attached = AttachTun(name, options.offload, options.multi_queue);
  if (!attached.ok()) return attached.error();
  UniqueFd fd = std::move(attached->fd);
  std::string actual = std::move(attached->name);
  unsigned offloads = 0;
  if (attached->vnet_hdr) {
    for (unsigned choice : kOffloadChoices) {
      if (::ioctl(fd.get(), TUNSETOFFLOAD,
                  static_cast<unsigned long>(choice)) == 0) {
        offloads = choice;
        break;
      }
    }
    if (offloads == 0) {
      // Every read and write would carry a header for nothing: start over
      // plain (closing a non-persistent TUN removes it first).
      LogVerbose("TUN " + actual +
                 ": the kernel takes no offload; plain packets");
      fd.Reset();
      auto plain = AttachTun(actual, false, options.multi_queue);
      if (!plain.ok()) return plain.error();
      fd = std::move(plain->fd);
      actual = std::move(plain->name);
    }
  }
  auto tun = MakeTun(std::move(fd), std::move(actual), mtu, offloads, options.multi_queue);
  if (!tun.ok() || options.tx_queue_len == 0) return tun;
  auto q = SetLinkTxQueueLen((*tun)->index(), options.tx_queue_len);
  if (!q.ok()) return q.error().Wrap("TUN " + (*tun)->name());
  return tun;
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
  return MakeTun(std::move(fd), std::move(name), mtu, 0, false);
}

}  // namespace zl::net
