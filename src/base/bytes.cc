#include "base/bytes.h"

#include <algorithm>

namespace zl {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
// RFC 4648 §4 (standard) and §5 (URL- and filename-safe) alphabets.
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of `c` in `alphabet` (64 characters), or -1.
int B64Value(const char* alphabet, char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == alphabet[62]) return 62;
  if (c == alphabet[63]) return 63;
  return -1;
}

// Encodes without padding; the caller pads.
std::string B64EncodeUnpadded(ByteSpan bytes, const char* alphabet, size_t reserve) {
  std::string out;
  out.reserve(reserve);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint32_t(bytes[i]) << 16) | (uint32_t(bytes[i + 1]) << 8) | bytes[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(v >> s) & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(bytes[i]) << 16;
    if (rest == 2) v |= uint32_t(bytes[i + 1]) << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(alphabet[(v >> 6) & 63]);
  }
  return out;
}

// How many bytes `chars` unpadded base64 characters decode to; nullopt for a
// length no encoding has (one character past a group of four).
std::optional<size_t> B64DecodedSize(size_t chars) {
  if (chars % 4 == 1) return std::nullopt;
  return chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
}

// Decodes unpadded base64 into exactly out.size() == B64DecodedSize(size)
// bytes. Rejects characters outside `alphabet` and non-canonical encodings
// (bits set past the last byte), so each byte string has one text form.
bool B64DecodeUnpadded(std::string_view text, const char* alphabet, MutableByteSpan out) {
  size_t o = 0;
  for (size_t i = 0; i < text.size(); i += 4) {
    size_t group = std::min<size_t>(4, text.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < group; ++j) {
      int d = B64Value(alphabet, text[i + j]);
      if (d < 0) return false;
      v = (v << 6) | uint32_t(d);
    }
    size_t bytes = group - 1;  // 4 chars -> 3 bytes, 3 -> 2, 2 -> 1
    size_t unused_bits = group * 6 - bytes * 8;
    if ((v & ((1u << unused_bits) - 1)) != 0) return false;
    v >>= unused_bits;
    for (size_t b = bytes; b-- > 0;) out[o++] = uint8_t(v >> (8 * b));
  }
  return o == out.size();
}

}  // namespace

std::string HexEncode(ByteSpan bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 15]);
  }
  return out;
}

bool HexDecode(std::string_view hex, MutableByteSpan out) {
  if (hex.size() != out.size() * 2) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = uint8_t((hi << 4) | lo);
  }
  return true;
}

std::string Base64Encode(ByteSpan bytes) {
  size_t padded = (bytes.size() + 2) / 3 * 4;
  std::string out = B64EncodeUnpadded(bytes, kB64, padded);
  out.resize(padded, '=');
  return out;
}

bool Base64Decode(std::string_view b64, MutableByteSpan out) {
  if (b64.size() != (out.size() + 2) / 3 * 4) return false;
  size_t pad = out.size() % 3 == 0 ? 0 : 3 - out.size() % 3;
  for (size_t i = b64.size() - pad; i < b64.size(); ++i) {
    if (b64[i] != '=') return false;
  }
  b64.remove_suffix(pad);
  return B64DecodedSize(b64.size()) == out.size() && B64DecodeUnpadded(b64, kB64, out);
}

std::string Base64UrlEncode(ByteSpan bytes) {
  return B64EncodeUnpadded(bytes, kB64Url, (bytes.size() * 4 + 2) / 3);
}

std::optional<std::vector<uint8_t>> Base64UrlDecode(std::string_view text) {
  auto size = B64DecodedSize(text.size());
  if (!size) return std::nullopt;
  std::vector<uint8_t> out(*size);
  if (!B64DecodeUnpadded(text, kB64Url, out)) return std::nullopt;
  return out;
}

bool IsAllZero(ByteSpan bytes) {
  uint8_t acc = 0;
  for (uint8_t b : bytes) acc |= b;
  return acc == 0;
}

}  // namespace zl
