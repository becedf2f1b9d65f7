#pragma once
// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
// 2012): a keyed hash of short inputs whose outputs cannot be predicted or
// made to collide without the 128-bit key. For hash tables and bucket
// choices that remote senders must not be able to aim at; not a MAC for
// messages. OpenSSL's SipHash (EVP_MAC "SIPHASH", fetched once, one context
// per thread re-keyed per call); siphash_test checks the paper's vector.
// Returns 0 if OpenSSL fails (it does not, once the provider loaded).
//
// Thread safety: thread-safe (per-thread contexts).

#include <array>
#include <cstdint>

#include "base/bytes.h"

namespace zl::crypto {

using SipHashKey = std::array<uint8_t, 16>;

uint64_t SipHash24(const SipHashKey& key, ByteSpan data);

}  // namespace zl::crypto
