#pragma once
// DnsZone: the overlay's authoritative zone (DESIGN.md §5), built from the
// membership, and the answer to one DNS query. Messages are parsed and built
// with ldns; the zone logic is ours.
//
// What it serves (ZONE = e.g. "zlayer.internal."):
//   - NAME.ZONE         A/AAAA for every member (its overlay addresses);
//   - leader.ZONE       A/AAAA of the control node;
//   - ADDR.ZONE         an address-derived name per member address:
//                       "10-200-3-1.ZONE", "fd42-0-0-3--1.ZONE" (':' -> '-');
//   - registered names  A/AAAA (DnsRecord with an address) and SRV
//                       ("_http._tcp.web.ZONE" -> target.ZONE port);
//   - ZONE apex         SOA and NS (ns1.ZONE, with A/AAAA glue = this node);
//   - PTR               for every address above, in in-addr.arpa / ip6.arpa,
//                       for the reverse zones of the overlay CIDRs.
// Semantics: NXDOMAIN for a name that does not exist (with the SOA in the
// authority section for negative caching, RFC 2308); NODATA (NOERROR, no
// answer, SOA) for an existing name without the asked type, including empty
// non-terminals ("_tcp.web.ZONE"); REFUSED for names outside the zone and its
// reverse zones (not an open resolver); FORMERR for unparsable queries (when
// an ID can be read; else no answer); NOTIMP for opcodes other than QUERY.
// ANY is answered with what the name has. EDNS0 (RFC 6891): the client's UDP
// size is honoured (minimum 512, our maximum 1232), an OPT is echoed; over UDP
// an answer that does not fit is truncated with TC set. Names are matched
// case-insensitively; the question is echoed as sent. AA is set on
// authoritative answers.
// Details: a reverse zone is the overlay CIDR rounded down to whole octets
// (IPv4) or nibbles (IPv6), with its own SOA and NS (ns1.ZONE). Classes other
// than IN and zone transfers (AXFR/IXFR) are REFUSED; a query must have one
// question, no answer or authority records and at most one additional (the
// OPT), else FORMERR; an EDNS version other than 0 gets BADVERS. Over the
// size limit the additional section goes first (no TC), then everything but
// the question (TC). NOTIMP and BADVERS count as malformed. Until the first
// Replace() every query is REFUSED. Invalid names in the data are skipped
// (logged), never served.
//
// Thread safety: Replace() and Answer() may be called from any thread; Answer
// sees either the old or the new data, never a mix.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/ip.h"
#include "overlay/model.h"

namespace zl::overlay {

struct DnsZoneData {
  std::string zone = std::string(kDefaultDnsZone);  // without the final dot
  std::vector<Member> members;
  std::vector<DnsRecord> names;
  std::vector<Cidr> reverse_ranges;     // the overlay CIDRs
  std::vector<IpAddress> ns_addresses;  // glue for ns1.ZONE: this node
  uint32_t serial = 1;                  // the store revision
  uint32_t ttl = 30;                    // seconds, every record
};

struct DnsCounters {
  uint64_t queries = 0;
  uint64_t answered = 0;     // NOERROR with answers
  uint64_t nxdomain = 0;
  uint64_t nodata = 0;
  uint64_t refused = 0;
  uint64_t malformed = 0;    // FORMERR or dropped
  uint64_t truncated = 0;
};

class DnsZone {
 public:
  DnsZone();
  ~DnsZone();
  void Replace(DnsZoneData data);

  enum class Transport { kUdp, kTcp };
  // The response to one query message (without TCP's length prefix), or an
  // empty vector when nothing should be sent (unparsable, or a response).
  std::vector<uint8_t> Answer(ByteSpan query, Transport transport);

  DnsCounters counters() const;

 private:
  struct Data;
  mutable std::mutex mu_;
  std::shared_ptr<const Data> data_;  // swapped whole under mu_
  struct AtomicCounters;
  std::unique_ptr<AtomicCounters> counters_;
};

}  // namespace zl::overlay
