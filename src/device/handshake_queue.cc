#include "device/handshake_queue.h"

#include <algorithm>
#include <chrono>

namespace zl::device {
namespace {

// WireGuard's message types 1-3 (4 is transport data).
constexpr uint8_t kInitiation = 1;
constexpr uint8_t kCookieReply = 3;

}  // namespace

bool IsHandshakeMessage(ByteSpan datagram) {
  return !datagram.empty() && datagram.size() <= kMaxHandshakeMessage &&
         datagram[0] >= kInitiation && datagram[0] <= kCookieReply;
}

HandshakeQueue::HandshakeQueue(size_t capacity, uint32_t shed_per_second,
                               uint32_t shed_burst,
                               const crypto::SipHashKey& key, size_t consumers)
    : capacity_(std::max<size_t>(capacity, 1)),
      consumers_(std::max<size_t>(consumers, 1)),
      entries_(capacity_),
      shedder_(shed_per_second, shed_burst, key) {}

bool HandshakeQueue::TryPush(ByteSpan message, const Endpoint& from,
                             const std::optional<IpAddress>& local,
                             MonoTime now) {
  if (message.size() > kMaxHandshakeMessage) return false;
  MutexLock lock(mu_);
  if (stopped_) return false;
  if (count_ == capacity_) {
    ++dropped_full_;
    return false;
  }
  if (count_ > capacity_ / 2 && !shedder_.Allow(from.address(), now)) {
    ++shed_;
    return false;
  }
  HandshakeMessage& e = entries_[(head_ + count_) % capacity_];
  std::copy(message.begin(), message.end(), e.bytes.begin());
  e.len = message.size();
  e.from = from;
  e.local = local;
  ++count_;
  return true;
}

void HandshakeQueue::Notify() { cv_.NotifyAll(); }

size_t HandshakeQueue::PopBatch(std::span<HandshakeMessage> out) {
  MutexLock lock(mu_);
  auto ready = [this]()
                   NO_THREAD_SAFETY_ANALYSIS { return count_ > 0 || stopped_; };
  while (!cv_.WaitFor(mu_, std::chrono::seconds(1), ready)) {
  }
  if (stopped_) return 0;
  const size_t share = (count_ + consumers_ - 1) / consumers_;
  const size_t n = std::min(out.size(), share);
  for (size_t i = 0; i < n; ++i) {
    HandshakeMessage& e = entries_[head_];
    std::swap(out[i], e);
    head_ = (head_ + 1) % capacity_;
  }
  count_ -= n;
  return n;
}

void HandshakeQueue::Stop() {
  {
    MutexLock lock(mu_);
    stopped_ = true;
    count_ = 0;
  }
  cv_.NotifyAll();
}

size_t HandshakeQueue::size() const {
  MutexLock lock(mu_);
  return count_;
}

uint64_t HandshakeQueue::dropped_full() const {
  MutexLock lock(mu_);
  return dropped_full_;
}

uint64_t HandshakeQueue::shed() const {
  MutexLock lock(mu_);
  return shed_;
}

}  // namespace zl::device
