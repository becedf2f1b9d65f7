#include "device/flow_queue.h"

#include <cstdint>

namespace zl::device {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

// splitmix64's finaliser: spreads every input bit over the result.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Folds `n` bytes at `p` into `h`, 8 at a time.
uint64_t Fold(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t word = 0;
    for (size_t j = i; j < n && j < i + 8; ++j) word = (word << 8) | p[j];
    h = Mix(h ^ word);
  }
  return h;
}

}  // namespace

size_t QueueOfFlow(ByteSpan packet, size_t queues) {
  if (queues <= 1 || packet.empty()) return 0;
  const uint8_t* p = packet.data();
  const size_t size = packet.size();
  uint64_t h = 0;
  uint8_t protocol = 0;
  size_t transport = 0;  // offset of the ports; 0 = none to use
  switch (p[0] >> 4) {
    case 4: {
      if (size < 20) return 0;
      const size_t header = size_t(p[0] & 0x0f) * 4;
      protocol = p[9];
      h = Fold(Mix(4 ^ (uint64_t(protocol) << 8)), p + 12, 8);  // source, destination
      const bool fragment = ((p[6] & 0x3f) | p[7]) != 0;  // MF or an offset
      if (!fragment && header >= 20) transport = header;
      break;
    }
    case 6:
      if (size < 40) return 0;
      protocol = p[6];  // the next header: ports only without extension headers
      h = Fold(Mix(6 ^ (uint64_t(protocol) << 8)), p + 8, 32);
      transport = 40;
      break;
    default:
      return 0;
  }
  if ((protocol == kTcp || protocol == kUdp) && transport > 0 && size >= transport + 4) {
    h = Fold(h, p + transport, 4);
  }
  return size_t(Mix(h) % queues);
}

}  // namespace zl::device
