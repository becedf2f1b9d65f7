#include "overlay/prober.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <span>
#include <thread>
#include <unordered_map>

#include "base/bytes.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "crypto/random.h"
#include "net/event_loop.h"
#include "net/udp_bind.h"

namespace zl::overlay {
namespace {

// The probe on the wire (all multi-byte fields little-endian, as WireGuard's):
//   0..3   magic "zlp1"
//   4      flag: 0 request, 1 reply
//   5..7   reserved, zero
//   8..15  nonce (chosen by the sender, echoed)
//   16..23 send time in ns (the sender's clock, echoed; opaque to the responder)
constexpr size_t kProbeSize = 24;
constexpr std::array<uint8_t, 4> kMagic = {'z', 'l', 'p', '1'};
constexpr size_t kFlagOffset = 4;
constexpr size_t kNonceOffset = 8;
constexpr size_t kSendTimeOffset = 16;
static_assert(kSendTimeOffset + 8 == kProbeSize);
constexpr uint8_t kFlagRequest = 0;
constexpr uint8_t kFlagReply = 1;

// Receive buffers are longer than a probe, so an oversized datagram is seen
// as such (the kernel truncates it to the buffer) and refused.
constexpr size_t kReceiveBufferSize = 64;

using ProbeBytes = std::array<uint8_t, kProbeSize>;

ProbeBytes SerializeRequest(uint64_t nonce, uint64_t send_time_ns) {
  ProbeBytes bytes{};
  std::copy(kMagic.begin(), kMagic.end(), bytes.begin());
  bytes[kFlagOffset] = kFlagRequest;
  StoreLe64(&bytes[kNonceOffset], nonce);
  StoreLe64(&bytes[kSendTimeOffset], send_time_ns);
  return bytes;
}

// True for a well-formed probe carrying `flag`: exact size, magic, flag,
// reserved bytes zero.
bool IsProbe(ByteSpan datagram, uint8_t flag) {
  return datagram.size() == kProbeSize &&
         std::equal(kMagic.begin(), kMagic.end(), datagram.begin()) &&
         datagram[kFlagOffset] == flag && datagram[5] == 0 &&
         datagram[6] == 0 && datagram[7] == 0;
}

uint64_t LoadNonce(ByteSpan probe) { return LoadLe64(&probe[kNonceOffset]); }

std::chrono::steady_clock::time_point MonoNow() {
  return std::chrono::steady_clock::now();
}

// One batch of receive slots with their buffers.
struct ReceiveBatch {
  std::array<std::array<uint8_t, kReceiveBufferSize>, net::kMaxBatchSize> bufs;
  std::array<net::RecvSlot, net::kMaxBatchSize> slots;

  // Receives what is waiting (up to one batch) on `family`'s socket; the
  // filled slots, empty on nothing or an error (logged).
  std::span<net::RecvSlot> Receive(net::Bind& bind, IpAddress::Family family,
                                   std::string_view who) {
    for (size_t i = 0; i < slots.size(); ++i) slots[i].buf = bufs[i];
    auto n = bind.Receive(family, slots);
    if (!n.ok()) {
      LogError(fmt::format("{}: {}", who, n.error().message()));
      return {};
    }
    return std::span(slots).first(*n);
  }
};

ByteSpan Payload(const net::RecvSlot& slot) {
  return ByteSpan(slot.buf.data(), slot.len);
}

// Sends `items`, skipping any the kernel refuses; returns how many went out.
// Stops early when the socket buffer is full (the rest are dropped: probes
// are best effort).
size_t SendAll(net::Bind& bind, std::span<const net::SendItem> items,
               std::string_view who) {
  size_t next = 0;
  size_t sent = 0;
  while (next < items.size()) {
    auto n = bind.Send(items.subspan(next));
    if (!n.ok()) {
      LogVerbose(fmt::format("{}: {}", who, n.error().message()));
      ++next;
      continue;
    }
    if (*n == 0) break;
    next += *n;
    sent += *n;
  }
  return sent;
}

// The bind's families that are open.
std::vector<IpAddress::Family> OpenFamilies(const net::Bind& bind) {
  std::vector<IpAddress::Family> families;
  for (auto family : {IpAddress::Family::kV4, IpAddress::Family::kV6}) {
    if (bind.waitable(family) != net::kNoWaitable) families.push_back(family);
  }
  return families;
}

net::ListenAddresses ListenOn(const IpAddress& address) {
  net::ListenAddresses listen;
  (address.is_v4() ? listen.v4 : listen.v6) = address;
  return listen;
}

}  // namespace

// Shutdown order (Stop): stop the loop, join the thread; then the members go
// in reverse order of declaration: the loop, then the socket.
struct ProbeResponder::Impl {
  std::unique_ptr<net::LinuxBind> bind;
  std::unique_ptr<net::EventLoop> loop;
  IpAddress::Family family;
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> malformed{0};
  std::thread thread;

  // On the responder thread: answers what is waiting.
  void OnReadable() {
    ReceiveBatch batch;
    std::array<net::SendItem, net::kMaxBatchSize> replies;
    std::array<ProbeBytes, net::kMaxBatchSize> reply_bytes;
    size_t count = 0;
    for (const net::RecvSlot& slot :
         batch.Receive(*bind, family, "probe responder")) {
      const ByteSpan request = Payload(slot);
      if (!IsProbe(request, kFlagRequest)) {
        malformed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      std::copy(request.begin(), request.end(), reply_bytes[count].begin());
      reply_bytes[count][kFlagOffset] = kFlagReply;
      // Reply from the address the request was sent to, so the prober can
      // match the reply to the target it probed.
      replies[count] = net::SendItem{slot.from, reply_bytes[count], slot.local};
      ++count;
    }
    const size_t sent = SendAll(
        *bind, std::span(replies).first(count), "probe responder");
    answered.fetch_add(sent, std::memory_order_relaxed);
  }
};

Result<std::unique_ptr<ProbeResponder>> ProbeResponder::Start(
    const Endpoint& at) {
  const std::string what = "probe responder on " + at.ToString();
  auto bind = net::LinuxBind::Open(at.port(), ListenOn(at.address()));
  if (!bind.ok()) return bind.error().Wrap(what);
  auto loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.error().Wrap(what);

  auto impl = std::make_unique<Impl>();
  impl->bind = std::move(*bind);
  impl->loop = std::move(*loop);
  impl->family = at.address().family();
  Impl* raw = impl.get();
  ZL_RETURN_IF_ERROR(impl->loop->Watch(
      impl->bind->fd(impl->family), net::kReadable,
      [raw](uint32_t) { raw->OnReadable(); }));
  impl->thread = std::thread([raw, what] {
    SetThreadName("zl-prober");
    if (auto run = raw->loop->Run(); !run.ok()) {
      LogError(fmt::format("{}: {}", what, run.error().message()));
    }
  });
  return std::unique_ptr<ProbeResponder>(new ProbeResponder(std::move(impl)));
}

ProbeResponder::ProbeResponder(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ProbeResponder::~ProbeResponder() { Stop(); }

void ProbeResponder::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->loop->Stop();
  impl_->thread.join();
}

uint16_t ProbeResponder::port() const { return impl_->bind->port(); }

uint64_t ProbeResponder::answered() const {
  return impl_->answered.load(std::memory_order_relaxed);
}

uint64_t ProbeResponder::malformed() const {
  return impl_->malformed.load(std::memory_order_relaxed);
}

Result<std::vector<ProbeResult>> ProbeAll(const std::vector<Endpoint>& targets,
                                          std::optional<IpAddress> source,
                                          std::chrono::milliseconds timeout) {
  std::vector<ProbeResult> results(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) results[i].target = targets[i];
  if (targets.empty()) return results;

  // Open only the families the targets need: usually one socket.
  net::ListenAddresses listen;
  const net::ListenAddresses any = net::ListenAddresses::Any();
  for (const Endpoint& target : targets) {
    (target.address().is_v4() ? listen.v4 : listen.v6) =
        target.address().is_v4() ? any.v4 : any.v6;
  }
  if (source) {
    std::optional<IpAddress>& slot = source->is_v4() ? listen.v4 : listen.v6;
    if (slot) slot = *source;
  }
  auto bind = net::LinuxBind::Open(0, listen);
  if (!bind.ok()) return bind.error().Wrap("probe");
  auto loop = net::EventLoop::Create();
  if (!loop.ok()) return loop.error().Wrap("probe");

  // Each target gets its own random nonce; a reply counts only if it comes
  // from the target it was sent to and echoes the request byte for byte.
  crypto::SystemRng rng;
  std::unordered_map<uint64_t, size_t> index_by_nonce;
  std::vector<ProbeBytes> requests(targets.size());
  std::vector<std::chrono::steady_clock::time_point> sent_at(targets.size());
  std::vector<net::SendItem> items(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    uint64_t nonce;
    do {
      nonce = rng.NextU64();
    } while (index_by_nonce.contains(nonce));
    index_by_nonce.emplace(nonce, i);
    sent_at[i] = MonoNow();
    requests[i] = SerializeRequest(
        nonce, static_cast<uint64_t>(sent_at[i].time_since_epoch().count()));
    items[i] = net::SendItem{targets[i], requests[i], std::nullopt};
  }

  // Items the kernel refused are simply never answered.
  size_t pending = SendAll(**bind, items, "probe");
  if (pending == 0) return results;

  auto on_reply = [&](const net::RecvSlot& slot,
                      std::chrono::steady_clock::time_point now) {
    const ByteSpan reply = Payload(slot);
    if (!IsProbe(reply, kFlagReply)) return;
    auto it = index_by_nonce.find(LoadNonce(reply));
    if (it == index_by_nonce.end()) return;
    const size_t i = it->second;
    ProbeResult& result = results[i];
    if (result.ok || slot.from != targets[i]) return;
    if (!std::equal(reply.begin() + kNonceOffset, reply.end(),
                    requests[i].begin() + kNonceOffset)) {
      return;
    }
    result.ok = true;
    result.rtt = std::chrono::duration_cast<Duration>(now - sent_at[i]);
    --pending;
  };

  net::EventLoop& ev = **loop;
  ReceiveBatch batch;
  for (IpAddress::Family family : OpenFamilies(**bind)) {
    ZL_RETURN_IF_ERROR(
        ev.Watch((*bind)->fd(family), net::kReadable, [&, family](uint32_t) {
          const auto now = MonoNow();
          for (const net::RecvSlot& slot :
               batch.Receive(**bind, family, "probe")) {
            on_reply(slot, now);
          }
          if (pending == 0) ev.Stop();
        }));
  }
  auto deadline = ev.AddTimer(timeout, Duration::zero(), [&] { ev.Stop(); });
  if (!deadline.ok()) return deadline.error().Wrap("probe");
  if (auto run = ev.Run(); !run.ok()) return run.error().Wrap("probe");
  return results;
}

}  // namespace zl::overlay
