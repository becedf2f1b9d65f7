// Fuzzes the TUN read side (tun_segment.h) with what the kernel could hand
// over: the first 10 bytes are a virtio-net header, the rest the packet. It
// must never crash or read out of bounds, and what it accepts must come out
// right: every segment fits its slot, parses with lengths that agree, has
// checksums that verify, and the segments' payloads are the super-packet's,
// in order. Segments are taken 64 slots at a time, as ReadBatch takes them
// when the caller's batch runs out (the pending path).
//
// Seeds: fuzz/corpus/tun_segment_fuzz (written by tun_segment_test's
// FuzzSeeds test with ZL_WRITE_FUZZ_SEEDS=1).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "net/tun_segment.h"
#include "net/tun_test_packets.h"

namespace {

using namespace zl;       // NOLINT
using namespace zl::net;  // NOLINT

constexpr size_t kSlots = 64;
constexpr size_t kSlotSize = 1500;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kVirtioNetHdrSize) return 0;
  const VirtioNetHdr header =
      ParseVirtioNetHdr(ByteSpan(data, kVirtioNetHdrSize));
  std::vector<uint8_t> packet(data + kVirtioNetHdrSize, data + size);

  if (header.gso_type == kVirtioNetHdrGsoNone) {
    (void)CompleteChecksum(header, packet);
    return 0;
  }
  auto split = ParseSuperPacket(header, packet);
  if (!split.ok()) return 0;
  Check(split->segments >= 1 && split->headers <= packet.size());

  static std::vector<uint8_t> storage(kSlots * kSlotSize);
  std::vector<TunPacket> slots(kSlots);
  size_t next = 0;
  size_t payload = 0;
  while (next < split->segments) {
    for (size_t i = 0; i < kSlots; ++i)
      slots[i] =
          TunPacket{MutableByteSpan(&storage[i * kSlotSize], kSlotSize), 0};
    auto n = WriteSegments(*split, packet, next, slots);
    if (!n.ok()) return 0;  // a segment longer than a slot: EMSGSIZE
    Check(*n > 0 && *n <= kSlots);
    for (size_t i = 0; i < *n; ++i) {
      const ByteSpan segment(slots[i].buf.data(), slots[i].len);
      Check(segment.size() <= kSlotSize && segment.size() >= split->headers);
      Check(testing::ChecksumsVerify(segment));
      const size_t bytes = segment.size() - split->headers;
      Check(std::memcmp(segment.data() + split->headers,
                        packet.data() + split->headers + payload, bytes) == 0);
      payload += bytes;
    }
    next += *n;
  }
  Check(payload == split->payload);
  return 0;
}
