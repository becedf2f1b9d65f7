#include "base/quote.h"

namespace zl {

std::string Quote(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t shown = text.size() < max_bytes ? text.size() : max_bytes;
  std::string out;
  out.reserve(shown + 5);
  out.push_back('\'');
  for (size_t i = 0; i < shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out.push_back(char(c));
    } else {
      out.push_back('\\');
      out.push_back('x');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (text.size() > max_bytes) out.append("...");
  out.push_back('\'');
  return out;
}

}  // namespace zl
