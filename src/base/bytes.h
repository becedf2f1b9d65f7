#pragma once
// Byte spans, explicit little-endian loads and stores, hex and base64
// (standard and URL-safe).
//
// Wire formats are read with these helpers, never by casting a buffer onto a
// struct (STYLE.md: parse, don't cast).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zl {

using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

inline uint16_t LoadLe16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
inline uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
inline uint64_t LoadLe64(const uint8_t* p) {
  return uint64_t(LoadLe32(p)) | (uint64_t(LoadLe32(p + 4)) << 32);
}
inline void StoreLe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
inline void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline uint16_t LoadBe16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void StoreBe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}

// Lower-case hex of `bytes`.
std::string HexEncode(ByteSpan bytes);
// Decodes exactly out.size() bytes from `hex` (either case). False on a wrong
// length or a non-hex character; `out` is then unspecified.
bool HexDecode(std::string_view hex, MutableByteSpan out);

// Standard base64 with padding (RFC 4648 §4), as wg(8) prints keys.
std::string Base64Encode(ByteSpan bytes);
// Decodes exactly out.size() bytes; false on bad length, padding or alphabet.
bool Base64Decode(std::string_view b64, MutableByteSpan out);
// URL- and filename-safe base64 without padding (RFC 4648 §5, §3.2), for
// text that is typed or pasted (join tokens).
std::string Base64UrlEncode(ByteSpan bytes);
// nullopt on a character outside the alphabet (padding included), an
// impossible length, or a non-canonical last character.
std::optional<std::vector<uint8_t>> Base64UrlDecode(std::string_view text);

// True when every byte is zero. Reads every byte (no early exit).
bool IsAllZero(ByteSpan bytes);

}  // namespace zl
