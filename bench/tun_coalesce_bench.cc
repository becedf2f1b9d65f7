// TunCoalescer::Plan (net/tun_coalesce.h), the write side of the TUN
// offloads, on a batch of 64 IPv4 TCP segments of 1420 bytes (one flow, the
// size a 1420-MTU tunnel delivers):
//
//   BM_PlanTcpRun/V    consecutive segments: two super-packets (47 + 17).
//   BM_PlanTcpLone/V   every segment with PSH: 64 lone packets.
//   BM_RestoreHeaders  what both spend per batch putting back the headers
//                      Plan rewrote (subtract it).
//
// V = 1: verify_checksums (each packet's checksum is verified; lone packets
// go with an all-zero header, the kernel verifies them again); V = 0:
// trusted, as LinuxTun::WriteBatch plans (no verification; lone packets get
// a partial checksum, the pseudo-header's sum). Time per batch.

#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "net/tun_coalesce.h"
#include "net/tun_test_packets.h"

namespace {

using zl::MutableByteSpan;
using zl::net::TunCoalescer;
namespace t = zl::net::testing;

constexpr size_t kBatch = 64;
constexpr size_t kPacketSize = 1420;
constexpr size_t kHeaders = 40;  // IPv4 + TCP

struct Batch {
  std::vector<std::vector<uint8_t>> pristine;
  std::vector<std::vector<uint8_t>> packets;
  std::vector<MutableByteSpan> spans;

  explicit Batch(uint8_t flags) {
    const t::Flow flow{false, true, 2, 1, 40000, 5201};
    uint32_t seq = 1000;
    for (size_t i = 0; i < kBatch; ++i) {
      const auto payload =
          t::Payload(kPacketSize - kHeaders, static_cast<uint32_t>(i));
      pristine.push_back(t::BuildPacket(flow, payload, seq, flags, 0,
                                        static_cast<uint16_t>(i)));
      seq += static_cast<uint32_t>(payload.size());
    }
    packets = pristine;
    spans.assign(packets.begin(), packets.end());
  }

  // Plan rewrites headers (and lone checksum fields) in place.
  void Restore() {
    for (size_t i = 0; i < kBatch; ++i)
      std::memcpy(packets[i].data(), pristine[i].data(), kHeaders);
  }
};

void PlanBatch(benchmark::State& state, uint8_t flags) {
  Batch batch(flags);
  TunCoalescer coalescer(
      {.tcp = true, .udp = true, .verify_checksums = state.range(0) != 0});
  size_t writes = 0;
  for (auto _ : state) {
    batch.Restore();
    writes = coalescer.Plan(batch.spans).size();
    benchmark::DoNotOptimize(writes);
  }
  state.counters["writes"] = static_cast<double>(writes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}

void BM_PlanTcpRun(benchmark::State& state) { PlanBatch(state, t::kAck); }
BENCHMARK(BM_PlanTcpRun)->Arg(1)->Arg(0);

void BM_PlanTcpLone(benchmark::State& state) {
  PlanBatch(state, t::kAck | t::kPsh);
}
BENCHMARK(BM_PlanTcpLone)->Arg(1)->Arg(0);

void BM_RestoreHeaders(benchmark::State& state) {
  Batch batch(t::kAck);
  for (auto _ : state) {
    batch.Restore();
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RestoreHeaders);

}  // namespace

BENCHMARK_MAIN();
