#pragma once
// The errno names our Results use that a platform's <errno.h> lacks: the
// Windows C runtime (mingw-w64) has no ESHUTDOWN. Each gets a number no
// errno of that runtime uses; the UAPI puts Linux's numbers on the wire
// (uapi/codec.h, WireErrno). On Linux this defines nothing.

#include <cerrno>

#ifndef ESHUTDOWN
#define ESHUTDOWN 2108  // Linux: 108 (cannot send after transport endpoint shutdown)
#endif
