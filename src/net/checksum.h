#pragma once
// The Internet checksum (RFC 1071) for the offload paths: IPv4 header
// checksums and TCP/UDP checksums over a pseudo-header (RFC 793, RFC 768,
// RFC 8200 §8.1), computed in one pass per packet.
//
// A sum is accumulated unfolded in 64 bits (so sums of pieces can be added
// and folded once) and folded at the end. Pure functions, thread-safe.

#include <cstdint>

#include "base/bytes.h"

namespace zl::net {

// Adds `data`, read as big-endian 16-bit words (an odd last byte is padded
// with a zero byte), to `sum`. Sums of pieces of even length may be chained.
uint64_t ChecksumAdd(ByteSpan data, uint64_t sum = 0);

// Folds a sum to 16 bits (ones' complement addition), not inverted.
uint16_t ChecksumFold(uint64_t sum);

// The finished checksum field value: the folded sum inverted.
inline uint16_t ChecksumFinish(uint64_t sum) { return static_cast<uint16_t>(~ChecksumFold(sum)); }

// The pseudo-header's sum for TCP/UDP: source and destination addresses (4
// or 16 bytes each, the same length), the protocol number and the transport
// length (header and payload).
uint64_t PseudoHeaderSum(ByteSpan source, ByteSpan destination, uint8_t protocol,
                         uint32_t transport_length);

}  // namespace zl::net
