// Fuzzes the DNS request path, DnsZone::Answer, with arbitrary bytes over
// both transports, on a small fixed zone. Checks, beyond "no crash":
//  - UDP and TCP answer the same messages, with the same ID and rcode;
//  - every answer is a DNS response (QR set) that ldns parses;
//  - a UDP answer fits 512 bytes, or 1232 with EDNS0; TCP is never truncated,
//    and an untruncated UDP answer has TCP's answer records;
//  - an answer fed back gets nothing (two servers never loop).

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "base/bytes.h"
#include "overlay/dns_test_util.h"
#include "overlay/dns_zone.h"

namespace zl::overlay {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

DnsZone& Zone() {
  static DnsZone* zone = [] {
    auto* z = new DnsZone;
    z->Replace(testing::TestZoneData());
    return z;
  }();
  return *zone;
}

size_t AnswerCount(const ldns_pkt* pkt) {
  return ldns_rr_list_rr_count(ldns_pkt_answer(pkt));
}

}  // namespace
}  // namespace zl::overlay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zl::overlay;
  DnsZone& zone = Zone();
  const zl::ByteSpan query(data, size);
  const std::vector<uint8_t> udp = zone.Answer(query, DnsZone::Transport::kUdp);
  const std::vector<uint8_t> tcp = zone.Answer(query, DnsZone::Transport::kTcp);
  Check(udp.empty() == tcp.empty());
  if (udp.empty()) return 0;

  testing::PktPtr u = testing::ParseMessage(udp);
  testing::PktPtr t = testing::ParseMessage(tcp);
  Check(u != nullptr && t != nullptr);
  const uint16_t id = zl::LoadBe16(data);
  Check(ldns_pkt_id(u.get()) == id && ldns_pkt_id(t.get()) == id);
  Check(ldns_pkt_qr(u.get()) && ldns_pkt_qr(t.get()));
  Check(ldns_pkt_get_rcode(u.get()) == ldns_pkt_get_rcode(t.get()));
  Check(ldns_pkt_edns_extended_rcode(u.get()) == ldns_pkt_edns_extended_rcode(t.get()));
  Check(udp.size() <= (ldns_pkt_edns(u.get()) ? 1232u : 512u));
  Check(!ldns_pkt_tc(t.get()));
  if (!ldns_pkt_tc(u.get())) Check(AnswerCount(u.get()) == AnswerCount(t.get()));

  Check(zone.Answer(udp, DnsZone::Transport::kUdp).empty());
  return 0;
}
