#pragma once
// UTF-8 <-> UTF-16 for the Windows API: our strings are UTF-8 (std::string),
// the W functions take UTF-16 (std::wstring). Invalid input is replaced with
// U+FFFD rather than failing: these strings name adapters and paths in
// messages and calls, never secrets.
//
// Windows-only (net/ *_win files). Thread safety: pure functions.

#include <string>
#include <string_view>

namespace zl::net {

std::wstring WideFromUtf8(std::string_view text);
std::string Utf8FromWide(std::wstring_view text);

}  // namespace zl::net
