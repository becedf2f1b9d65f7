// SipHash24 (siphash.h) on Windows. libgcrypt has no SipHash, so the same
// contract -- a 64-bit keyed PRF of short inputs under a 128-bit key -- is
// met with keyed BLAKE2s (Blake2sMac: RFC 7693 keyed mode, outlen 16) of the
// data, its first 8 bytes read little-endian. The outputs differ from
// SipHash-2-4's; nothing depends on the values, only on the PRF property
// (the FloodShedder picks buckets with it, which must stay unpredictable
// to a sender without the key). siphash_gcrypt_test.cc checks this
// construction; siphash_test.cc the properties every backend keeps.
#include "crypto/blake2s.h"
#include "crypto/siphash.h"

namespace zl::crypto {

uint64_t SipHash24(const SipHashKey& key, ByteSpan data) {
  const Mac mac = Blake2sMac(ByteSpan(key), {data});
  return LoadLe64(mac.data());
}

}  // namespace zl::crypto
