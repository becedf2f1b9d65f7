// The data path does not allocate (DESIGN.md §3): once a session is up,
// Encapsulate and Decapsulate of transport data touch no heap.
//
// The global operator new of this test binary counts allocations made while a
// thread-local switch is on; it is off everywhere else, so the other tests in
// the binary are unaffected.

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <vector>

#include "wg/engine.h"
#include "wg/engine_test_util.h"

namespace {
thread_local bool g_counting = false;
thread_local size_t g_allocations = 0;
}  // namespace

// GCC cannot see that these frees pair with the malloc in operator new.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace zl::wg {
namespace {

// A sink that only counts, so the test itself allocates nothing per packet.
class CountingSink final : public PacketSink {
 public:
  void SendToNetwork(PeerId, const Path&, ByteSpan) override { ++sent; }
  void WriteToTun(PeerId, ByteSpan) override { ++written; }
  size_t sent = 0;
  size_t written = 0;
};

class EngineAllocationTest : public harness::EnginePairTest {};

TEST_F(EngineAllocationTest, TransportDataPathDoesNotAllocate) {
  Connect();
  Establish();
  const auto packet = harness::Ipv4Packet("10.0.0.1", "10.0.0.2", 1400);
  std::vector<uint8_t> out(packet.size() + 64);
  CountingSink sink;
  const Path from{a->address, b->address.address()};
  constexpr int kPackets = 1000;

  g_allocations = 0;
  g_counting = true;
  size_t delivered = 0;
  for (int i = 0; i < kPackets; ++i) {
    auto e = a->engine->Encapsulate(ByteSpan(packet), MutableByteSpan(out), now(), sink);
    if (e.kind != EncapsulateResult::Kind::kSent) break;
    auto d = b->engine->Decapsulate(from, MutableByteSpan(out.data(), e.length), now(), sink);
    delivered += d.kind == DecapsulateResult::Kind::kDeliver;
  }
  g_counting = false;

  EXPECT_EQ(delivered, size_t(kPackets));  // the loop really ran the data path
  EXPECT_EQ(g_allocations, 0u);
}

TEST_F(EngineAllocationTest, CounterSeesAnAllocation) {
  // The instrument works: an allocation under the switch is counted.
  g_allocations = 0;
  g_counting = true;
  auto* v = new std::vector<int>(10);
  g_counting = false;
  delete v;
  EXPECT_GE(g_allocations, 1u);
}

}  // namespace
}  // namespace zl::wg
