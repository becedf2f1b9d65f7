#pragma once
// Windows command lines: quoting one argument so that the C runtime's and
// CommandLineToArgvW's parsing give it back unchanged. Used to build the
// command line a Windows service is installed with (system_service.h). Pure
// string code, tested on every platform.

#include <string>
#include <string_view>

namespace zl::net {

// `argument` as it must appear on a command line: unchanged when it has no
// space, tab, newline, vertical tab or quote (and is not empty); else in
// quotes, each quote preceded by a backslash and the backslashes before a
// quote (or before the closing quote) doubled.
std::string QuoteCommandLineArgument(std::string_view argument);

}  // namespace zl::net
