#pragma once
// Quote: untrusted text made safe to put in an error message or a log line.
//
// The result is the text between single quotes, with every byte outside
// printable ASCII (and the quote and backslash themselves) written as \xNN,
// cut after `max_bytes` input bytes (then "..." comes before the closing
// quote).
// Never use it on key material: a message about a key does not echo it.
//
// Thread safety: a pure function.

#include <cstddef>
#include <string>
#include <string_view>

namespace zl {

// The default bound: enough for an address, an endpoint or an interface name.
inline constexpr size_t kMaxQuotedBytes = 64;

std::string Quote(std::string_view text, size_t max_bytes = kMaxQuotedBytes);

}  // namespace zl
