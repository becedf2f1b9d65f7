#include "net/checksum.h"

#include <bit>
#include <cstring>

namespace zl::net {
namespace {

// The ones' complement sum of `data` read as 16-bit words in the machine's
// byte order, folded. Eight bytes per step: each 64-bit load adds its two
// 32-bit halves to a 64-bit accumulator, which cannot overflow below 2^31
// steps (16 GiB), far above any packet. Folding is the same in either byte
// order up to a byte swap of the result (RFC 1071 §2(B)).
uint16_t NativeSum(const uint8_t* p, size_t n) {
  uint64_t acc = 0;
  while (n >= 32) {
    uint64_t v[4];
    std::memcpy(v, p, sizeof(v));
    acc += (v[0] & 0xffffffff) + (v[0] >> 32) + (v[1] & 0xffffffff) + (v[1] >> 32) +
           (v[2] & 0xffffffff) + (v[2] >> 32) + (v[3] & 0xffffffff) + (v[3] >> 32);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    acc += (v & 0xffffffff) + (v >> 32);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    acc += v;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t v;
    std::memcpy(&v, p, sizeof(v));
    acc += v;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    // The odd last byte is the first byte of a word padded with zero.
    const uint8_t pad[2] = {p[0], 0};
    uint16_t v;
    std::memcpy(&v, pad, sizeof(v));
    acc += v;
  }
  return ChecksumFold(acc);
}

}  // namespace

uint64_t ChecksumAdd(ByteSpan data, uint64_t sum) {
  const uint16_t native = NativeSum(data.data(), data.size());
  if constexpr (std::endian::native == std::endian::little) {
    return sum + static_cast<uint16_t>((native >> 8) | (native << 8));
  } else {
    return sum + native;
  }
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
