#pragma once
// TunCoalescer: receive-side offload (GRO) for a Linux TUN opened with
// IFF_VNET_HDR. It turns a batch of plain IP packets (decrypted from the
// tunnel) into as few TUN writes as it can: consecutive TCP segments of one
// flow (and, when the TUN accepts USO, UDP datagrams of one flow) become one
// super-packet with a virtio_net_hdr saying how the kernel may split it
// again, so the kernel's stack handles one large packet instead of dozens.
//
// Each write is a VirtioNetHdr (virtio_net_hdr.h, 10 bytes)
// followed by the packet bytes, gathered from the caller's buffers without a
// copy (iovecs). A packet that is not coalesced goes out alone with an
// all-zero header (VIRTIO_NET_HDR_GSO_NONE, no checksum request): the kernel
// then takes it as it is, and verifies its checksum -- except, with
// verify_checksums off, a lone TCP/UDP packet (below).
//
// What it merges (each group is one flow's packets, consecutive in that
// flow, never reordered within it; flows may interleave in the batch):
//  - TCP (options.tcp): IPv4 without options or fragmentation and with DF, or
//    IPv6 without extension headers; flags ACK, PSH only on a group's last
//    segment; no SYN/FIN/RST/URG/ECE/CWR; payload > 0; sequence numbers
//    following each other exactly; the same ACK number, window, TOS/traffic
//    class and flow label, TTL/hop limit, TCP header length and option bytes;
//    equal payload sizes (gso_size), a smaller one ending its group.
//  - UDP (options.udp, USO): the same rules for IP, equal payload sizes with a
//    smaller last one. An IPv4 datagram without a checksum (0) may join: the
//    super-datagram gets one, the kernel fills it in.
//  - At most 64 segments and 65535 bytes of IP length per super-packet; at
//    most kMaxOpenFlows flows grouped at a time (others wait their turn).
// Checksums (options.verify_checksums): the kernel never checks a super-
// packet's TCP/UDP checksum, it only completes it. With verification on, a
// packet whose IPv4 header or TCP/UDP checksum is wrong is not merged: it
// goes alone, and the kernel drops it as it would have. With verification
// off, the packets are trusted as they are: packets authenticated by an AEAD
// (WireGuard's ChaCha20-Poly1305 tag proves they are the bytes the peer
// sent, so an inner checksum adds nothing -- the kernel's WireGuard marks
// every decrypted packet CHECKSUM_UNNECESSARY for that reason, in
// drivers/net/wireguard/receive.c). Then nothing is verified here, a packet
// with a wrong checksum merges like any other (the super-packet's checksum
// is completed over the bytes as they are), and a lone TCP/UDP packet is
// sent as a partial checksum too (VIRTIO_NET_HDR_F_NEEDS_CSUM, GSO_NONE,
// csum_start/csum_offset at its checksum field, which is replaced by the
// pseudo-header's folded sum), so that the kernel does not verify it either:
// local delivery takes CHECKSUM_PARTIAL as verified, and forwarding completes
// the checksum (so what the peer sent with a wrong one leaves with a right
// one). A TUN ignores VIRTIO_NET_HDR_F_DATA_VALID on writes (Linux 6.18
// dropped a UDP datagram with a wrong checksum sent with it), hence the
// partial checksum. Only for a packet whose IP length fields say its size,
// not a fragment, with a whole TCP header or a UDP length that says its
// size; a UDP datagram without a checksum (0), ICMP and anything else keep
// the all-zero header. The kernel checks an IPv4 header checksum in any case
// (a super-packet's is recomputed here).
// The first packet of a group is rewritten: IPv4 total length and header
// checksum, IPv6 payload length, UDP length, PSH from the last segment, and
// the TCP/UDP checksum field set to the pseudo-header's folded sum (the
// partial checksum VIRTIO_NET_HDR_F_NEEDS_CSUM asks the kernel to finish).
//
// Cost: O(n * kMaxOpenFlows) per batch of n; no allocation once the vectors
// have grown to the largest batch seen.
//
// Linux only (iovec); pure otherwise: no I/O, no clock.
// Thread safety: one object per writer thread.

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/bytes.h"
#include "net/virtio_net_hdr.h"

namespace zl::net {

// One TUN write: iov[0] is the VirtioNetHdr, the rest the packet bytes.
struct TunWrite {
  std::span<const iovec> iov;
  size_t packets = 0;  // how many of the caller's packets it carries
};

class TunCoalescer {
 public:
  struct Options {
    bool tcp = true;   // the TUN has TSO4/TSO6 (so accepts TCP super-packets)
    bool udp = false;  // the TUN has USO4/USO6
    // Verify each packet's checksums before merging it (the kernel does not
    // check a super-packet's). Off only where the packets are known good
    // (authenticated): then lone TCP/UDP packets go with a partial checksum
    // as well, which the kernel does not verify (see the top).
    bool verify_checksums = true;
  };

  // Flows grouped at a time within one batch.
  static constexpr size_t kMaxOpenFlows = 16;

  explicit TunCoalescer(Options options);

  // Plans the writes for `packets`. Packets that it groups may have the
  // first packet's headers rewritten in place (lengths, checksums, flags),
  // and so may a lone packet's checksum field (verify_checksums off); every
  // packet is in exactly one write; within a flow the order is kept.
  // The result refers to `packets` and to this object's storage, and is
  // valid until the next Plan.
  std::span<const TunWrite> Plan(std::span<const MutableByteSpan> packets);

  // Packets merged into another packet's write, since creation (for tests
  // and counters).
  uint64_t coalesced() const { return coalesced_; }

 private:
  // A flow: protocol, IP version, source and destination address (IPv4 in
  // the first 8 of 32 bytes), source and destination port; 2 bytes of zeros
  // make it five 8-byte words to hash.
  using FlowKey = std::array<uint8_t, 40>;

  enum class Kind : uint8_t {
    kUnknown,  // cannot tell its flow (garbage, fragment, extension headers)
    kForeign,  // IP but not TCP/UDP: in no flow we group
    kFlow,     // TCP or UDP with its flow known
  };

  // What Parse learned of one packet.
  struct Packet {
    Kind kind = Kind::kUnknown;
    bool coalescable = false;  // kFlow and meets every rule above
    bool psh = false;
    bool checksum_absent = false;  // IPv4 UDP without a checksum
    // Alone, its checksum may be left partial: the field's offset in the
    // transport header (0: no).
    uint8_t partial_offset = 0;
    uint8_t ip_len = 0;
    uint8_t l4_len = 0;  // TCP or UDP header
    uint32_t payload = 0;
    FlowKey key{};
  };

  // A run of one flow's packets being merged.
  struct Group {
    FlowKey key{};
    uint64_t hash = 0;
    uint32_t first = 0;  // packet indices
    uint32_t last = 0;
    uint32_t count = 0;
    uint32_t total = 0;     // IP length of the super-packet so far
    uint32_t next_seq = 0;  // TCP: the sequence number the next segment needs
    uint32_t gso_size = 0;  // the first packet's payload
    uint8_t ip_len = 0;
    uint8_t l4_len = 0;
    bool psh = false;     // the last segment has PSH
    bool closed = false;  // ended by a PSH or short segment
  };

  // Per packet: where a lone packet's checksum field is, for its
  // virtio-net header (offset 0: none).
  struct Partial {
    uint8_t start = 0;   // the transport header
    uint8_t offset = 0;  // the checksum field, from `start`
  };

  Packet Parse(MutableByteSpan bytes) const;
  bool CanAppend(const Group& group, std::span<const MutableByteSpan> packets,
                 size_t index, const Packet& p) const;
  Group* FindOpen(const Packet& p, uint64_t hash);
  void Close(const Group* group);
  void Open(std::span<const MutableByteSpan> packets, size_t index,
            const Packet& p, uint64_t hash);
  void Append(Group& group, size_t index, const Packet& p);
  void Finish(const Group& group, MutableByteSpan first,
              VirtioNetHdr& hdr) const;
  void FinishLone(Partial partial, MutableByteSpan packet,
                  VirtioNetHdr& hdr) const;

  Options options_;
  std::vector<Group> groups_;
  std::vector<uint32_t> open_;     // groups_ indices still taking packets
  std::vector<int32_t> group_of_;  // per packet: its group, or -1
  // Per packet: the next packet of its group, or -1.
  std::vector<int32_t> next_;
  std::vector<Partial> partial_;
  std::vector<VirtioNetHdr> headers_;
  std::vector<iovec> iovs_;
  std::vector<size_t> write_iov_start_;
  std::vector<TunWrite> writes_;
  uint64_t coalesced_ = 0;
};

}  // namespace zl::net
