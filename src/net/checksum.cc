#include "net/checksum.h"

#include <cstring>

namespace zl::net {

uint64_t ChecksumAdd(ByteSpan data, uint64_t sum) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  // 32-bit big-endian words into a 64-bit accumulator: no carry is lost
  // below 2^32 words.
  while (n >= 4) {
    sum += (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    sum += (uint32_t{p[0]} << 8) | p[1];
    p += 2;
    n -= 2;
  }
  if (n == 1) sum += uint32_t{p[0]} << 8;
  return sum;
}

uint16_t ChecksumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

uint64_t PseudoHeaderSum(ByteSpan source, ByteSpan destination, uint8_t protocol,
                         uint32_t transport_length) {
  uint64_t sum = ChecksumAdd(source);
  sum = ChecksumAdd(destination, sum);
  return sum + protocol + (transport_length >> 16) + (transport_length & 0xffff);
}

}  // namespace zl::net
