#pragma once
// FakeTun: a net::TunDevice over a SOCK_SEQPACKET socketpair, so a device can
// be driven without root: the test writes IP packets into peer_fd() (as if
// the kernel routed them to the interface) and reads what the device wrote.
// WriteBatch writes each packet as Write does and records the batch's size
// (write_batch_sizes(), thread-safe), so tests see how packets were batched.

#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "net/tun_device.h"

namespace zl::testing {

class FakeTun final : public net::TunDevice {
 public:
  explicit FakeTun(std::string name) : name_(std::move(name)) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) {
      device_end_.Reset(fds[0]);
      peer_end_.Reset(fds[1]);
    }
  }

  // The test's end of the "wire".
  int peer_fd() const { return peer_end_.get(); }

  const std::string& name() const override { return name_; }
  int index() const override { return 0; }
  net::Waitable waitable() const override { return device_end_.get(); }

  Result<size_t> ReadBatch(std::span<net::TunPacket> packets) override {
    size_t n = 0;
    for (; n < packets.size(); ++n) {
      ssize_t r = ::recv(device_end_.get(), packets[n].buf.data(), packets[n].buf.size(), 0);
      if (r < 0) {
        if (n > 0 || errno == EAGAIN) break;
        return ErrnoError("fake tun read");
      }
      packets[n].len = size_t(r);
    }
    return n;
  }
  Result<void> Write(ByteSpan packet) override {
    if (::send(device_end_.get(), packet.data(), packet.size(), MSG_DONTWAIT) < 0) {
      return ErrnoError("fake tun write");
    }
    return Ok();
  }
  size_t WriteBatch(std::span<const MutableByteSpan> packets) override {
    {
      std::lock_guard lock(batches_mu_);
      write_batch_sizes_.push_back(packets.size());
    }
    return TunDevice::WriteBatch(packets);
  }
  // The size of each WriteBatch call so far, in order.
  std::vector<size_t> write_batch_sizes() const {
    std::lock_guard lock(batches_mu_);
    return write_batch_sizes_;
  }
  Result<int> Mtu() const override { return mtu_; }
  Result<void> SetMtu(int mtu) override {
    mtu_ = mtu;
    return Ok();
  }
  Result<void> SetUp() override { return Ok(); }

 private:
  std::string name_;
  UniqueFd device_end_;
  UniqueFd peer_end_;
  int mtu_ = net::kDefaultTunMtu;
  mutable std::mutex batches_mu_;
  std::vector<size_t> write_batch_sizes_;
};

}  // namespace zl::testing
