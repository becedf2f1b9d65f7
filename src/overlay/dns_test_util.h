#pragma once
// Helpers for the DNS tests and the DNS fuzzer only (not part of the layer's
// API): a small zone, queries built with ldns, answers parsed with ldns and
// shown as one line per record.
//
// Thread safety: free functions over values.

#include <ldns/ldns.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip.h"
#include "overlay/dns_zone.h"
#include "overlay/model.h"

namespace zl::overlay::testing {

struct PktFree {
  void operator()(ldns_pkt* pkt) const { ldns_pkt_free(pkt); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

inline Cidr TestCidr(const char* text) { return Cidr::Parse(text).value(); }
inline IpAddress TestIp(const char* text) { return IpAddress::Parse(text).value(); }

inline Member TestMember(std::string name, const char* subnet4,
                         const char* subnet6 = nullptr, bool control = false) {
  Member m;
  m.name = std::move(name);
  m.subnet4 = TestCidr(subnet4);
  if (subnet6) m.subnet6 = TestCidr(subnet6);
  m.control = control;
  return m;
}

inline DnsRecord TestAddressName(std::string name, const char* address) {
  DnsRecord r;
  r.name = std::move(name);
  r.address = TestIp(address);
  return r;
}

inline DnsRecord TestService(std::string name, std::string target, uint16_t port) {
  DnsRecord r;
  r.name = std::move(name);
  r.target = std::move(target);
  r.port = port;
  return r;
}

// zlayer.internal: the control node "ctl" (10.200.1.1, fd42:0:0:1::1),
// "node-a" (10.200.2.1, IPv4 only), "node-b" (10.200.3.1, fd42:0:0:3::1),
// the registered name "web" (10.200.3.5) and the service
// "_http._tcp.web" -> node-b:8080. Serial 7, TTL 30.
inline DnsZoneData TestZoneData() {
  DnsZoneData d;
  d.zone = "zlayer.internal";
  d.members.push_back(TestMember("ctl", "10.200.1.0/24", "fd42:0:0:1::/64", true));
  d.members.push_back(TestMember("node-a", "10.200.2.0/24"));
  d.members.push_back(TestMember("node-b", "10.200.3.0/24", "fd42:0:0:3::/64"));
  d.names.push_back(TestAddressName("web", "10.200.3.5"));
  d.names.push_back(TestService("_http._tcp.web", "node-b", 8080));
  d.reverse_ranges = {TestCidr("10.200.0.0/16"), TestCidr("fd42::/48")};
  d.ns_addresses = {TestIp("10.200.1.1"), TestIp("fd42:0:0:1::1")};
  d.serial = 7;
  d.ttl = 30;
  return d;
}

struct QueryOptions {
  uint16_t id = 0x1234;
  std::optional<uint16_t> edns_size;  // an OPT record with this UDP size
  bool dnssec_ok = false;
  bool recursion_desired = true;
  ldns_rr_class qclass = LDNS_RR_CLASS_IN;
};

// A query for `name` and `type` in wire form (empty if ldns refuses the name).
inline std::vector<uint8_t> MakeQuery(const std::string& name, ldns_rr_type type,
                                      const QueryOptions& o = {}) {
  ldns_rdf* qname = ldns_dname_new_frm_str(name.c_str());
  if (!qname) return {};
  PktPtr pkt(ldns_pkt_query_new(qname, type, o.qclass, o.recursion_desired ? LDNS_RD : 0));
  if (!pkt) return {};
  ldns_pkt_set_id(pkt.get(), o.id);
  if (o.edns_size) {
    ldns_pkt_set_edns_udp_size(pkt.get(), *o.edns_size);
    ldns_pkt_set_edns_do(pkt.get(), o.dnssec_ok);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt.get(), &size) != LDNS_STATUS_OK) return {};
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  return out;
}

// The parsed message, or nullptr when it is not a DNS message.
inline PktPtr ParseMessage(const std::vector<uint8_t>& wire) {
  ldns_pkt* pkt = nullptr;
  if (wire.empty() || ldns_wire2pkt(&pkt, wire.data(), wire.size()) != LDNS_STATUS_OK) {
    return nullptr;
  }
  return PktPtr(pkt);
}

// One record in presentation form, single-spaced:
// "node-a.zlayer.internal. 30 IN A 10.200.2.1".
inline std::string RecordText(const ldns_rr* rr) {
  char* raw = ldns_rr2str(rr);
  std::string text = raw ? raw : "";
  free(raw);
  std::string out;
  for (char ch : text) {
    if (ch == '\n') continue;
    if (ch == '\t' || ch == ' ') {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

inline std::vector<std::string> SectionText(const ldns_pkt* pkt, ldns_pkt_section section) {
  const ldns_rr_list* list = nullptr;
  switch (section) {
    case LDNS_SECTION_QUESTION:
      list = ldns_pkt_question(pkt);
      break;
    case LDNS_SECTION_ANSWER:
      list = ldns_pkt_answer(pkt);
      break;
    case LDNS_SECTION_AUTHORITY:
      list = ldns_pkt_authority(pkt);
      break;
    default:
      list = ldns_pkt_additional(pkt);
      break;
  }
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    out.push_back(RecordText(ldns_rr_list_rr(list, i)));
  }
  return out;
}

}  // namespace zl::overlay::testing
