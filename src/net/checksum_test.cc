#include "net/checksum.h"

#include <gtest/gtest.h>

#include <vector>

namespace zl::net {
namespace {

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2 (folded).
  const std::vector<uint8_t> data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ChecksumFold(ChecksumAdd(data)), 0xddf2);
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(data)), 0x220d);
}

TEST(Checksum, Ipv4HeaderChecksumVerifiesToZero) {
  // A real IPv4 header (checksum b861 filled in): summing it all gives ffff.
  const std::vector<uint8_t> header = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                       0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(header)), 0);
  std::vector<uint8_t> zeroed = header;
  zeroed[10] = zeroed[11] = 0;
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(zeroed)), 0xb861);
}

TEST(Checksum, OddLengthPadsWithZero) {
  const std::vector<uint8_t> odd = {0x12, 0x34, 0x56};
  const std::vector<uint8_t> padded = {0x12, 0x34, 0x56, 0x00};
  EXPECT_EQ(ChecksumFold(ChecksumAdd(odd)), ChecksumFold(ChecksumAdd(padded)));
}

TEST(Checksum, PiecesOfEvenLengthChain) {
  std::vector<uint8_t> data(1001);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7 + 3);
  const uint64_t whole = ChecksumAdd(data);
  const uint64_t chained = ChecksumAdd(ByteSpan(data).subspan(6), ChecksumAdd(ByteSpan(data).first(6)));
  EXPECT_EQ(ChecksumFold(whole), ChecksumFold(chained));
}

TEST(Checksum, PseudoHeaderAddsAddressesProtocolAndLength) {
  const std::vector<uint8_t> src = {10, 0, 0, 1};
  const std::vector<uint8_t> dst = {10, 0, 0, 2};
  // 0a00 + 0001 + 0a00 + 0002 + 0006 + 0014 = 0x141d
  EXPECT_EQ(ChecksumFold(PseudoHeaderSum(src, dst, 6, 20)), 0x141d);
  EXPECT_EQ(ChecksumFold(PseudoHeaderSum(src, dst, 17, 0x10008)), 0x0a00 + 1 + 0x0a00 + 2 + 17 + 1 + 8);
}

}  // namespace
}  // namespace zl::net

namespace zl::net {
namespace {

// The plain definition (RFC 1071 §4.1's loop), to check the fast one against.
uint16_t ReferenceFolded(ByteSpan data) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += (uint32_t{data[i]} << 8) | data[i + 1];
  if (i < data.size()) sum += uint32_t{data[i]} << 8;
  return ChecksumFold(sum);
}

TEST(Checksum, MatchesTheDefinitionAtEveryLengthAndAlignment) {
  std::vector<uint8_t> data(1600);
  uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1103515245 + 12345;
    b = uint8_t(x >> 16);
  }
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len + offset <= data.size(); len += (len < 80 ? 1 : 37)) {
      ByteSpan piece = ByteSpan(data).subspan(offset, len);
      ASSERT_EQ(ChecksumFold(ChecksumAdd(piece)), ReferenceFolded(piece))
          << "offset " << offset << " length " << len;
    }
  }
}

TEST(Checksum, AllOnesDataDoesNotOverflow) {
  const std::vector<uint8_t> ones(65535, 0xff);
  EXPECT_EQ(ChecksumFold(ChecksumAdd(ones)), ReferenceFolded(ones));
  EXPECT_EQ(ChecksumFold(ChecksumAdd(ones, 0xffffffffull)),
            ChecksumFold(uint64_t{ReferenceFolded(ones)} + 0xffffffffull));
}

}  // namespace
}  // namespace zl::net
