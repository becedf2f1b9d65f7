#include "overlay/dns_zone.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "base/log.h"

namespace zl::overlay {
namespace {

// RFC 1035 §4.1.1: the fixed header; QR is bit 7 of the third byte, the
// opcode bits 6..3.
inline constexpr size_t kHeaderSize = 12;
inline constexpr uint8_t kQrBit = 0x80;
inline constexpr uint8_t kOpcodeMask = 0x78;
// RFC 1035 §4.2.1: UDP answers without EDNS0 fit 512 bytes.
inline constexpr size_t kMinUdpSize = 512;
// DNS flag day 2020: the EDNS0 buffer size that avoids IP fragmentation; we
// neither send more nor advertise more.
inline constexpr uint16_t kMaxUdpSize = 1232;
// RFC 1035 §4.2.2: TCP messages carry a 16-bit length.
inline constexpr size_t kMaxTcpSize = 65535;
// RFC 6891 §9: an unknown EDNS version is answered BADVERS (16): the upper 8
// bits (1) go in the OPT record, the lower 4 (0) in the header.
inline constexpr uint8_t kBadVersExtendedRcode = 1;
// SOA timers (RFC 1912 §2.2 ranges). Nothing transfers this zone, so only
// the minimum (the negative-caching TTL, RFC 2308 §4) matters; it is the
// zone's TTL.
inline constexpr uint32_t kSoaRefresh = 3600;
inline constexpr uint32_t kSoaRetry = 600;
inline constexpr uint32_t kSoaExpire = 86400;

struct RrFree {
  void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
};
struct RdfFree {
  void operator()(ldns_rdf* rdf) const { ldns_rdf_deep_free(rdf); }
};
struct PktFree {
  void operator()(ldns_pkt* pkt) const { ldns_pkt_free(pkt); }
};
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

// A name as a map key: its uncompressed wire form in lower case (length
// bytes are below 'A', so lowering every byte leaves them alone).
std::string KeyOf(const ldns_rdf* dname) {
  std::string key(reinterpret_cast<const char*>(ldns_rdf_data(dname)),
                  ldns_rdf_size(dname));
  for (char& ch : key) {
    if (ch >= 'A' && ch <= 'Z') ch = char(ch - 'A' + 'a');
  }
  return key;
}

// The offsets at which the labels of a wire-form key start, the root
// excluded: "\3www\4zone\0" -> {0, 4}. A key from ldns is well formed.
std::vector<size_t> LabelOffsets(const std::string& key) {
  std::vector<size_t> offsets;
  for (size_t pos = 0; pos < key.size() && key[pos] != 0;
       pos += 1 + uint8_t(key[pos])) {
    offsets.push_back(pos);
  }
  return offsets;
}

// An absolute name from text ("www.zlayer.internal."), in lower case;
// nullptr if it is not a valid name.
RdfPtr Dname(const std::string& fqdn) {
  RdfPtr name(ldns_dname_new_frm_str(fqdn.c_str()));
  if (name) ldns_dname2canonical(name.get());
  return name;
}

RdfPtr AddressRdf(const IpAddress& address) {
  return RdfPtr(ldns_rdf_new_frm_data(
      address.is_v4() ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, address.size(),
      address.bytes().data()));
}

ldns_rr_type AddressType(const IpAddress& address) {
  return address.is_v4() ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
}

// The first host of a subnet (10.200.3.0/24 -> 10.200.3.1), the overlay
// address of the member that owns it (model.h). A host prefix is its own
// address.
IpAddress FirstHostOf(const Cidr& subnet) {
  const Cidr masked = subnet.Masked();
  if (masked.prefix_len() == masked.address().size() * 8) return subnet.address();
  std::array<uint8_t, 16> bytes = masked.address().bytes();
  for (size_t i = masked.address().size(); i-- > 0;) {
    if (++bytes[i] != 0) break;
  }
  return masked.address().is_v4() ? IpAddress::V4(bytes.data())
                                  : IpAddress::V6(bytes.data());
}

// "10-200-3-1", "fd42-0-0-3--1": the address as one DNS label.
std::string AddressLabel(const IpAddress& address) {
  std::string label = address.ToString();
  std::replace_if(
      label.begin(), label.end(), [](char ch) { return ch == ':' || ch == '.'; }, '-');
  return label;
}

// The reverse name of the first `bits` of `address` (rounded down to whole
// octets for IPv4, nibbles for IPv6; RFC 1035 §3.5, RFC 3596 §2.5).
std::string ReverseName(const IpAddress& address, unsigned bits) {
  std::string name;
  const auto& b = address.bytes();
  if (address.is_v4()) {
    for (size_t i = bits / 8; i-- > 0;) name += fmt::format("{}.", b[i]);
    return name + "in-addr.arpa.";
  }
  for (size_t i = bits / 4; i-- > 0;) {
    const uint8_t nibble = (i % 2 == 0) ? b[i / 2] >> 4 : b[i / 2] & 0xf;
    name += fmt::format("{:x}.", nibble);
  }
  return name + "ip6.arpa.";
}

RrPtr MakeRr(const ldns_rdf* owner, ldns_rr_type type, uint32_t ttl,
             std::vector<RdfPtr> rdata) {
  RrPtr rr(ldns_rr_new());
  if (!rr) return nullptr;
  ldns_rr_set_owner(rr.get(), ldns_rdf_clone(owner));
  ldns_rr_set_type(rr.get(), type);
  ldns_rr_set_class(rr.get(), LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr.get(), ttl);
  for (RdfPtr& rdf : rdata) {
    if (!rdf || !ldns_rr_push_rdf(rr.get(), rdf.get())) return nullptr;
    rdf.release();  // owned by rr now
  }
  return rr;
}

// The target name of a record that points at another name, for the
// additional section: NS (RFC 1035 §3.3.11) and SRV (RFC 2782).
const ldns_rdf* TargetOf(const ldns_rr* rr) {
  switch (ldns_rr_get_type(rr)) {
    case LDNS_RR_TYPE_NS:
      return ldns_rr_rdf(rr, 0);
    case LDNS_RR_TYPE_SRV:
      return ldns_rr_rdf(rr, 3);
    default:
      return nullptr;
  }
}

}  // namespace

struct DnsZone::AtomicCounters {
  std::atomic<uint64_t> queries{0};
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> nxdomain{0};
  std::atomic<uint64_t> nodata{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> truncated{0};
};

namespace {

// The zone's records, indexed once per Replace(): Answer() is a few hash
// lookups. Immutable once built.
struct ZoneIndex {
  struct Node {
    std::vector<RrPtr> rrs;  // empty: an empty non-terminal
  };
  // The apexes we are authoritative for (the forward zone and the reverse
  // zones of the overlay CIDRs), with their SOA (owned by the apex's node).
  std::unordered_map<std::string, const ldns_rr*> soa_by_apex;
  std::unordered_map<std::string, Node> nodes;

  // The SOA of the closest zone of ours that holds the name, or nullptr.
  const ldns_rr* FindZone(const std::string& key) const {
    for (size_t offset : LabelOffsets(key)) {
      auto it = soa_by_apex.find(key.substr(offset));
      if (it != soa_by_apex.end()) return it->second;
    }
    return nullptr;
  }
};

// What one query gets, before it is encoded.
struct Reply {
  enum class Outcome { kAnswered, kNxdomain, kNodata, kRefused, kMalformed };
  Outcome outcome = Outcome::kRefused;
  uint8_t rcode = LDNS_RCODE_NOERROR;
  uint8_t extended_rcode = 0;
  bool authoritative = false;
  std::vector<const ldns_rr*> answer;
  std::vector<const ldns_rr*> authority;
  std::vector<const ldns_rr*> additional;
};

// Builds ZoneIndex from DnsZoneData.
class ZoneBuilder {
 public:
  explicit ZoneBuilder(const DnsZoneData& in) : in_(in) {}

  ZoneIndex Build() {
    ZoneIndex out;
    data_ = &out;
    std::string zone = in_.zone;
    while (!zone.empty() && zone.back() == '.') zone.pop_back();
    zone_ = zone + ".";
    RdfPtr apex = Dname(zone_);
    RdfPtr ns = Dname("ns1." + zone_);
    if (zone.empty() || !apex || !ns) {
      LogError(fmt::format("dns: zone '{}' is not a valid name; serving nothing", in_.zone));
      return out;
    }
    AddApex(apex.get(), ns.get());
    for (const Cidr& range : in_.reverse_ranges) {
      const unsigned unit = range.address().is_v4() ? 8 : 4;
      RdfPtr reverse = Dname(ReverseName(range.address(), range.prefix_len() / unit * unit));
      if (reverse) AddApex(reverse.get(), ns.get());
    }
    for (const IpAddress& address : in_.ns_addresses) {
      Add(MakeRr(ns.get(), AddressType(address), in_.ttl, Rdata(AddressRdf(address))));
    }
    for (const Member& member : in_.members) AddMember(member);
    for (const DnsRecord& record : in_.names) AddRecord(record);
    AddEmptyNonTerminals();
    return out;
  }

 private:
  static std::vector<RdfPtr> Rdata(RdfPtr a) {
    std::vector<RdfPtr> v;
    v.push_back(std::move(a));
    return v;
  }

  void AddApex(const ldns_rdf* apex, const ldns_rdf* ns) {
    const std::string key = KeyOf(apex);
    if (data_->soa_by_apex.contains(key)) return;  // two CIDRs, one zone
    RdfPtr hostmaster = Dname("hostmaster." + zone_);
    std::vector<RdfPtr> soa;
    soa.emplace_back(ldns_rdf_clone(ns));
    soa.push_back(std::move(hostmaster));
    soa.emplace_back(ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, in_.serial));
    for (uint32_t v : {kSoaRefresh, kSoaRetry, kSoaExpire, in_.ttl}) {
      soa.emplace_back(ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, v));
    }
    RrPtr rr = MakeRr(apex, LDNS_RR_TYPE_SOA, in_.ttl, std::move(soa));
    if (!rr) return;
    data_->soa_by_apex[key] = rr.get();
    Add(std::move(rr));
    Add(MakeRr(apex, LDNS_RR_TYPE_NS, in_.ttl, Rdata(RdfPtr(ldns_rdf_clone(ns)))));
  }

  // `name` (relative to the zone) has `address`: A/AAAA, and a PTR back to
  // it when `reverse` (and the address is in one of our reverse zones).
  void AddAddress(const std::string& name, const IpAddress& address, bool reverse) {
    RdfPtr owner = Dname(name + "." + zone_);
    if (!owner) {
      LogError(fmt::format("dns: skipping '{}': not a valid name", name));
      return;
    }
    Add(MakeRr(owner.get(), AddressType(address), in_.ttl, Rdata(AddressRdf(address))));
    if (!reverse) return;
    RdfPtr ptr_owner = Dname(ReverseName(address, unsigned(address.size() * 8)));
    if (ptr_owner) {
      Add(MakeRr(ptr_owner.get(), LDNS_RR_TYPE_PTR, in_.ttl,
                 Rdata(RdfPtr(ldns_rdf_clone(owner.get())))));
    }
  }

  void AddMember(const Member& member) {
    std::vector<IpAddress> addresses{FirstHostOf(member.subnet4)};
    if (member.subnet6) addresses.push_back(FirstHostOf(*member.subnet6));
    for (const IpAddress& address : addresses) {
      AddAddress(member.name, address, /*reverse=*/true);
      AddAddress(AddressLabel(address), address, /*reverse=*/false);
      if (member.control) AddAddress("leader", address, /*reverse=*/false);
    }
  }

  void AddRecord(const DnsRecord& record) {
    if (record.name.empty()) return;
    if (!record.is_service()) {
      if (record.address) AddAddress(record.name, *record.address, /*reverse=*/true);
      return;
    }
    RdfPtr owner = Dname(record.name + "." + zone_);
    RdfPtr target = record.target.empty() ? nullptr : Dname(record.target + "." + zone_);
    if (!owner || !target) {
      LogError(fmt::format("dns: skipping service '{}' -> '{}': not a valid name",
                           record.name, record.target));
      return;
    }
    // RFC 2782: priority, weight, port, target. One target per record, so
    // priority and weight carry no choice.
    std::vector<RdfPtr> srv;
    srv.emplace_back(ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));
    srv.emplace_back(ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));
    srv.emplace_back(ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, record.port));
    srv.push_back(std::move(target));
    Add(MakeRr(owner.get(), LDNS_RR_TYPE_SRV, in_.ttl, std::move(srv)));
  }

  // Records outside every zone of ours are dropped (a PTR for an address
  // outside the overlay CIDRs); duplicates are kept once.
  void Add(RrPtr rr) {
    if (!rr) return;
    const std::string key = KeyOf(ldns_rr_owner(rr.get()));
    if (!data_->FindZone(key)) return;
    auto& rrs = data_->nodes[key].rrs;
    for (const RrPtr& existing : rrs) {
      if (ldns_rr_compare(existing.get(), rr.get()) == 0) return;
    }
    rrs.push_back(std::move(rr));
  }

  // Every name between an owner and its zone's apex exists (RFC 8020), so
  // "_tcp.web.ZONE" is NODATA, not NXDOMAIN, when "_http._tcp.web.ZONE" is.
  void AddEmptyNonTerminals() {
    std::vector<std::string> owners;
    for (const auto& [key, node] : data_->nodes) owners.push_back(key);
    for (const std::string& key : owners) {
      if (data_->soa_by_apex.contains(key)) continue;
      // Add() kept only owners under an apex, so the walk up meets it.
      const auto offsets = LabelOffsets(key);
      for (size_t i = 1; i < offsets.size(); ++i) {
        const std::string parent = key.substr(offsets[i]);
        if (data_->soa_by_apex.contains(parent)) break;
        data_->nodes.try_emplace(parent);
      }
    }
  }

  const DnsZoneData& in_;
  ZoneIndex* data_ = nullptr;
  std::string zone_;  // with the final dot
};

// Decides the reply to a parsed query (QUERY opcode, one question).
Reply Resolve(const ZoneIndex& data, const ldns_pkt* query) {
  Reply reply;
  if (ldns_pkt_edns(query) && ldns_pkt_edns_version(query) != 0) {
    reply.outcome = Reply::Outcome::kMalformed;
    reply.extended_rcode = kBadVersExtendedRcode;
    return reply;
  }
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(query), 0);
  const ldns_rr_type type = ldns_rr_get_type(question);
  if (type == LDNS_RR_TYPE_OPT) {  // RFC 6891 §6.1.1: OPT is not a question
    reply.outcome = Reply::Outcome::kMalformed;
    reply.rcode = LDNS_RCODE_FORMERR;
    return reply;
  }
  // Not an open resolver, and no zone transfers (RFC 5936 §4.2: REFUSED).
  if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN || type == LDNS_RR_TYPE_AXFR ||
      type == LDNS_RR_TYPE_IXFR) {
    reply.rcode = LDNS_RCODE_REFUSED;
    return reply;
  }
  const std::string key = KeyOf(ldns_rr_owner(question));
  const ldns_rr* soa = data.FindZone(key);
  if (!soa) {
    reply.rcode = LDNS_RCODE_REFUSED;
    return reply;
  }
  reply.authoritative = true;
  auto node = data.nodes.find(key);
  if (node == data.nodes.end()) {
    reply.outcome = Reply::Outcome::kNxdomain;
    reply.rcode = LDNS_RCODE_NXDOMAIN;
    reply.authority.push_back(soa);  // RFC 2308 §3
    return reply;
  }
  for (const RrPtr& rr : node->second.rrs) {
    if (type == LDNS_RR_TYPE_ANY || ldns_rr_get_type(rr.get()) == type) {
      reply.answer.push_back(rr.get());
    }
  }
  if (reply.answer.empty()) {
    reply.outcome = Reply::Outcome::kNodata;
    reply.authority.push_back(soa);  // RFC 2308 §2.2
    return reply;
  }
  reply.outcome = Reply::Outcome::kAnswered;
  // The addresses of the names the answer points at (NS glue, SRV targets),
  // when they are ours.
  std::unordered_set<const ldns_rr*> seen;
  for (const ldns_rr* rr : reply.answer) {
    const ldns_rdf* target = TargetOf(rr);
    if (!target) continue;
    auto it = data.nodes.find(KeyOf(target));
    if (it == data.nodes.end()) continue;
    for (const RrPtr& extra : it->second.rrs) {
      const ldns_rr_type t = ldns_rr_get_type(extra.get());
      if ((t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA) && seen.insert(extra.get()).second) {
        reply.additional.push_back(extra.get());
      }
    }
  }
  return reply;
}

std::vector<uint8_t> ToWire(const ldns_pkt* pkt) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK || !wire) {
    free(wire);
    return {};
  }
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  return out;
}

// A response that is only a header: FORMERR or NOTIMP for a query we cannot
// read further. ID, opcode and RD are copied from the query's header
// (RFC 1035 §4.1.1; the opcode is patched in after encoding because ldns
// types it as an enum of the assigned opcodes only).
std::vector<uint8_t> HeaderOnlyReply(ByteSpan query, uint8_t rcode) {
  PktPtr pkt(ldns_pkt_new());
  if (!pkt) return {};
  ldns_pkt_set_id(pkt.get(), LoadBe16(query.data()));
  ldns_pkt_set_qr(pkt.get(), true);
  ldns_pkt_set_rd(pkt.get(), (query[2] & 0x01) != 0);
  ldns_pkt_set_rcode(pkt.get(), rcode);
  std::vector<uint8_t> wire = ToWire(pkt.get());
  if (wire.size() >= kHeaderSize) {
    wire[2] = uint8_t((wire[2] & ~kOpcodeMask) | (query[2] & kOpcodeMask));
  }
  return wire;
}

enum class Sections { kAll, kNoAdditional, kQuestionOnly };

// Encodes `reply` to `query`, with the sections asked for.
std::vector<uint8_t> Encode(const ldns_pkt* query, const Reply& reply, Sections sections) {
  PktPtr pkt(ldns_pkt_new());
  if (!pkt) return {};
  ldns_pkt* p = pkt.get();
  ldns_pkt_set_id(p, ldns_pkt_id(query));
  ldns_pkt_set_qr(p, true);
  ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
  ldns_pkt_set_aa(p, reply.authoritative);
  ldns_pkt_set_rd(p, ldns_pkt_rd(query));
  ldns_pkt_set_cd(p, ldns_pkt_cd(query));
  ldns_pkt_set_rcode(p, reply.rcode);
  ldns_pkt_set_tc(p, sections == Sections::kQuestionOnly);
  // The question as sent, case included.
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(query), 0);
  if (!ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(question))) return {};
  auto push = [&](ldns_pkt_section section, const std::vector<const ldns_rr*>& rrs) {
    for (const ldns_rr* rr : rrs) {
      ldns_rr* copy = ldns_rr_clone(rr);
      if (!copy) return false;
      if (section == LDNS_SECTION_ANSWER) {
        // Every answer is at the question's name: echo it as spelled.
        ldns_rdf_deep_free(ldns_rr_owner(copy));
        ldns_rr_set_owner(copy, ldns_rdf_clone(ldns_rr_owner(question)));
      }
      if (!ldns_pkt_push_rr(p, section, copy)) {
        ldns_rr_free(copy);
        return false;
      }
    }
    return true;
  };
  if (sections != Sections::kQuestionOnly) {
    if (!push(LDNS_SECTION_ANSWER, reply.answer) ||
        !push(LDNS_SECTION_AUTHORITY, reply.authority)) {
      return {};
    }
    if (sections == Sections::kAll && !push(LDNS_SECTION_ADDITIONAL, reply.additional)) {
      return {};
    }
  }
  if (ldns_pkt_edns(query)) {  // RFC 6891 §6.1.1: answer EDNS with EDNS
    ldns_pkt_set_edns_udp_size(p, kMaxUdpSize);
    ldns_pkt_set_edns_version(p, 0);
    ldns_pkt_set_edns_extended_rcode(p, reply.extended_rcode);
    ldns_pkt_set_edns_do(p, ldns_pkt_edns_do(query));  // RFC 3225 §3
  }
  return ToWire(p);
}

// How large an answer may be: RFC 6891 §6.2.5 over UDP, the 16-bit length
// over TCP.
size_t SizeLimit(const ldns_pkt* query, DnsZone::Transport transport) {
  if (transport == DnsZone::Transport::kTcp) return kMaxTcpSize;
  if (!ldns_pkt_edns(query)) return kMinUdpSize;
  return std::clamp<size_t>(ldns_pkt_edns_udp_size(query), kMinUdpSize, kMaxUdpSize);
}

}  // namespace

struct DnsZone::Data : ZoneIndex {
  Data() = default;
  explicit Data(ZoneIndex index) : ZoneIndex(std::move(index)) {}
};

DnsZone::DnsZone()
    : data_(std::make_shared<const Data>()), counters_(std::make_unique<AtomicCounters>()) {}

DnsZone::~DnsZone() = default;

void DnsZone::Replace(DnsZoneData data) {
  std::shared_ptr<const Data> built = std::make_shared<const Data>(ZoneBuilder(data).Build());
  std::lock_guard<std::mutex> lock(mu_);
  data_.swap(built);
  // The old data is freed outside the lock, when `built` goes.
}

std::vector<uint8_t> DnsZone::Answer(ByteSpan query, Transport transport) {
  AtomicCounters& c = *counters_;
  c.queries.fetch_add(1, std::memory_order_relaxed);
  auto malformed = [&c] { c.malformed.fetch_add(1, std::memory_order_relaxed); };
  // Too short for an ID: nobody to answer. A response: never answer one
  // (that is how two servers would loop).
  if (query.size() < kHeaderSize || (query[2] & kQrBit) != 0) {
    malformed();
    return {};
  }
  if ((query[2] & kOpcodeMask) != 0) {
    malformed();
    return HeaderOnlyReply(query, LDNS_RCODE_NOTIMPL);
  }
  // A query has one question (RFC 9619), nothing in the answer or authority
  // sections, and at most one additional record (the OPT, RFC 6891 §6.1.1;
  // we do not do TSIG). Checked before parsing, so ldns never sees more.
  const uint16_t qdcount = LoadBe16(query.data() + 4);
  const uint16_t ancount = LoadBe16(query.data() + 6);
  const uint16_t nscount = LoadBe16(query.data() + 8);
  const uint16_t arcount = LoadBe16(query.data() + 10);
  ldns_pkt* parsed = nullptr;
  if (qdcount != 1 || ancount != 0 || nscount != 0 || arcount > 1 ||
      ldns_wire2pkt(&parsed, query.data(), query.size()) != LDNS_STATUS_OK || !parsed) {
    malformed();
    return HeaderOnlyReply(query, LDNS_RCODE_FORMERR);
  }
  PktPtr request(parsed);

  std::shared_ptr<const Data> data;
  {
    std::lock_guard<std::mutex> lock(mu_);
    data = data_;
  }
  const Reply reply = Resolve(*data, request.get());
  switch (reply.outcome) {
    case Reply::Outcome::kAnswered:
      c.answered.fetch_add(1, std::memory_order_relaxed);
      break;
    case Reply::Outcome::kNxdomain:
      c.nxdomain.fetch_add(1, std::memory_order_relaxed);
      break;
    case Reply::Outcome::kNodata:
      c.nodata.fetch_add(1, std::memory_order_relaxed);
      break;
    case Reply::Outcome::kRefused:
      c.refused.fetch_add(1, std::memory_order_relaxed);
      break;
    case Reply::Outcome::kMalformed:
      malformed();
      break;
  }

  // Over the limit: first leave out the additional section (RFC 2181 §9:
  // that needs no TC), then everything but the question, with TC set so the
  // client asks again over TCP.
  const size_t limit = SizeLimit(request.get(), transport);
  std::vector<uint8_t> wire = Encode(request.get(), reply, Sections::kAll);
  if (wire.size() <= limit) return wire;
  wire = Encode(request.get(), reply, Sections::kNoAdditional);
  if (wire.size() <= limit) return wire;
  c.truncated.fetch_add(1, std::memory_order_relaxed);
  return Encode(request.get(), reply, Sections::kQuestionOnly);
}

DnsCounters DnsZone::counters() const {
  const AtomicCounters& c = *counters_;
  DnsCounters out;
  out.queries = c.queries.load(std::memory_order_relaxed);
  out.answered = c.answered.load(std::memory_order_relaxed);
  out.nxdomain = c.nxdomain.load(std::memory_order_relaxed);
  out.nodata = c.nodata.load(std::memory_order_relaxed);
  out.refused = c.refused.load(std::memory_order_relaxed);
  out.malformed = c.malformed.load(std::memory_order_relaxed);
  out.truncated = c.truncated.load(std::memory_order_relaxed);
  return out;
}

}  // namespace zl::overlay
