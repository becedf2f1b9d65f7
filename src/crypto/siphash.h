#pragma once
// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
// 2012): a keyed hash of short inputs whose outputs cannot be predicted or
// made to collide without the 128-bit key. For hash tables and bucket
// choices that remote senders must not be able to aim at; not a MAC for
// messages. Our own implementation (OpenSSL's EVP SipHash costs a context
// and a fetch per call); siphash_test checks it against OpenSSL's and the
// paper's vector.
//
// Thread safety: pure functions.

#include <array>
#include <cstdint>

#include "base/bytes.h"

namespace zl::crypto {

using SipHashKey = std::array<uint8_t, 16>;

uint64_t SipHash24(const SipHashKey& key, ByteSpan data);

}  // namespace zl::crypto
