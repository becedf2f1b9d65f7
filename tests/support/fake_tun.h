#pragma once
// FakeTun: a net::TunDevice over a SOCK_SEQPACKET socketpair, so a device can
// be driven without root: the test writes IP packets into peer_fd() (as if
// the kernel routed them to the interface) and reads what the device wrote.
// WriteBatch writes each packet as Write does and records the batch's size
// (write_batch_sizes(), thread-safe), so tests see how packets were batched.
//
// Multi-queue: FakeTun(name, queues) lets OpenQueue open queues 1..queues-1
// (then EBUSY), each a FakeTun over a socketpair of its own, made here at
// construction: the test's end of queue i is queue_peer_fd(i) (queue 0's
// is peer_fd()), kept by this object, valid while it lives (dup it to watch
// a queue close after this object is gone: it then reads end-of-file). With
// one queue (the default), OpenQueue answers TunDevice's ENOTSUP.

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "net/tun_device.h"

namespace zl::testing {

class FakeTun final : public net::TunDevice {
 public:
  explicit FakeTun(std::string name, size_t queues = 1) : name_(std::move(name)) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) {
      device_end_.Reset(fds[0]);
      peer_end_.Reset(fds[1]);
    }
    for (size_t i = 1; i < queues; ++i) {
      queues_.push_back(std::make_unique<FakeTun>(name_));
      queue_peers_.push_back(std::move(queues_.back()->peer_end_));
    }
  }

  // The test's end of the "wire".
  int peer_fd() const { return peer_end_.get(); }
  // The test's end of queue `i` (0: peer_fd()); -1 beyond the queues.
  int queue_peer_fd(size_t i) const {
    if (i == 0) return peer_fd();
    return i <= queue_peers_.size() ? queue_peers_[i - 1].get() : -1;
  }
  // Queues opened so far, this one included.
  size_t queues_opened() const { return 1 + opened_; }

  Result<std::unique_ptr<net::TunDevice>> OpenQueue() override {
    if (queues_.empty()) return TunDevice::OpenQueue();
    if (opened_ == queues_.size()) return Error(EBUSY, "fake tun: no queue left");
    return std::unique_ptr<net::TunDevice>(std::move(queues_[opened_++]));
  }

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
  std::vector<std::unique_ptr<FakeTun>> queues_;  // [i - 1]: queue i until opened
  std::vector<UniqueFd> queue_peers_;             // [i - 1]: queue i's test end
  size_t opened_ = 0;
  int mtu_ = net::kDefaultTunMtu;
  mutable std::mutex batches_mu_;
  std::vector<size_t> write_batch_sizes_;
};

}  // namespace zl::testing
