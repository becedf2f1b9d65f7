// BLAKE2s, its keyed MAC and HMAC-BLAKE2s (blake2s.h) on libgcrypt: the
// Windows backend (blake2s.cc is the OpenSSL one).
//   Blake2s      GCRY_MD_BLAKE2S_256, a handle per call
//   Blake2sMac   GCRY_MD_BLAKE2S_128 keyed with gcry_md_setkey: RFC 7693's
//                keyed mode with outlen 16, WireGuard's MAC (not a truncation)
//   HmacBlake2s  GCRY_MAC_HMAC_BLAKE2S_256
// A keyed handle lives for one call (one KDF for Kdf1/2/3) and is closed
// after it; gcry_md_close and gcry_mac_close wipe the handle's memory, so no
// key stays in libgcrypt's memory and there is no long-lived keyed context
// (MacContextsHoldKeyForTesting is false by construction).
#include <gcrypt.h>

#include <algorithm>
#include <cstring>

#include "crypto/backend_gcrypt.h"
#include "crypto/blake2s.h"

namespace zl::crypto {
namespace {

using internal::GcryptDie;

class DigestHandle {
 public:
  explicit DigestHandle(int algo) {
    internal::EnsureGcryptInitialized();
    if (gcry_error_t e = gcry_md_open(&hd_, algo, 0); e != 0) GcryptDie("BLAKE2s unavailable", e);
  }
  ~DigestHandle() { gcry_md_close(hd_); }
  DigestHandle(const DigestHandle&) = delete;
  DigestHandle& operator=(const DigestHandle&) = delete;
  gcry_md_hd_t get() { return hd_; }

 private:
  gcry_md_hd_t hd_ = nullptr;
};

void Write(gcry_md_hd_t hd, std::initializer_list<ByteSpan> parts) {
  for (ByteSpan p : parts) gcry_md_write(hd, p.data(), p.size());
}

// HMAC-BLAKE2s-256 with a handle kept for several MACs (the KDF's).
class HmacHandle {
 public:
  HmacHandle() {
    internal::EnsureGcryptInitialized();
    if (gcry_error_t e = gcry_mac_open(&hd_, GCRY_MAC_HMAC_BLAKE2S_256, 0, nullptr); e != 0) {
      GcryptDie("HMAC-BLAKE2s unavailable", e);
    }
  }
  ~HmacHandle() { gcry_mac_close(hd_); }
  HmacHandle(const HmacHandle&) = delete;
  HmacHandle& operator=(const HmacHandle&) = delete;

  void Compute(ByteSpan key, std::initializer_list<ByteSpan> parts, uint8_t out[kHashLen]) {
    // HMAC pads a short key with zeros to the block size, so the empty key
    // and the key 0x00 are the same key; libgcrypt wants at least one byte.
    static constexpr uint8_t kZeroByte[1] = {0};
    const ByteSpan k = key.empty() ? ByteSpan(kZeroByte) : key;
    size_t len = kHashLen;
    gcry_error_t e = gcry_mac_reset(hd_);
    if (e == 0) e = gcry_mac_setkey(hd_, k.data(), k.size());
    for (ByteSpan p : parts) {
      if (e == 0) e = gcry_mac_write(hd_, p.data(), p.size());
    }
    if (e == 0) e = gcry_mac_read(hd_, out, &len);
    if (e != 0 || len != kHashLen) GcryptDie("HMAC-BLAKE2s failed", e);
  }

 private:
  gcry_mac_hd_t hd_ = nullptr;
};

}  // namespace

// A handle per call, not one per thread: a thread_local object with a
// destructor crashes at thread exit in mingw-w64 programs (seen under wine).
// Closing the handle wipes the last input (Noise hashes the handshake hash).
Hash Blake2s(std::initializer_list<ByteSpan> parts) {
  DigestHandle handle(GCRY_MD_BLAKE2S_256);
  Hash out;
  Write(handle.get(), parts);
  const unsigned char* digest = gcry_md_read(handle.get(), GCRY_MD_BLAKE2S_256);
  if (digest == nullptr) GcryptDie("BLAKE2s failed", 0);
  std::copy_n(digest, kHashLen, out.begin());
  return out;
}

Mac Blake2sMac(ByteSpan key, std::initializer_list<ByteSpan> parts) {
  if (key.empty() || key.size() > 32) GcryptDie("Blake2sMac: key must be 1..32 bytes", 0);
  DigestHandle handle(GCRY_MD_BLAKE2S_128);
  if (gcry_error_t e = gcry_md_setkey(handle.get(), key.data(), key.size()); e != 0) {
    GcryptDie("BLAKE2s-MAC setkey failed", e);
  }
  Write(handle.get(), parts);
  const unsigned char* digest = gcry_md_read(handle.get(), GCRY_MD_BLAKE2S_128);
  if (digest == nullptr) GcryptDie("BLAKE2s-MAC failed", 0);
  Mac out;
  std::copy_n(digest, kMacLen, out.begin());
  return out;  // the handle's destructor wipes the key
}

Hash HmacBlake2s(ByteSpan key, std::initializer_list<ByteSpan> parts) {
  HmacHandle hmac;
  Hash out;
  hmac.Compute(key, parts, out.data());
  return out;
}

namespace internal {

bool MacContextsHoldKeyForTesting() { return false; }  // no keyed handle outlives a call

}  // namespace internal

namespace {

// The paper's KDF_n (blake2s.h), with one HMAC handle for the whole
// derivation. All of t0 is computed before any output is written, so an
// output may alias `key`.
void Kdf(const SymmetricKey& key, ByteSpan input, SymmetricKey* const outs[], int n) {
  HmacHandle hmac;
  Hash t0, t{};
  hmac.Compute(key.span(), {input}, t0.data());
  for (int i = 1; i <= n; ++i) {
    const uint8_t counter[1] = {uint8_t(i)};
    if (i == 1) {
      hmac.Compute(t0, {counter}, t.data());
    } else {
      hmac.Compute(t0, {t, counter}, t.data());
    }
    std::copy(t.begin(), t.end(), outs[i - 1]->data());
  }
  SecureWipe(t0.data(), t0.size());
  SecureWipe(t.data(), t.size());
}

}  // namespace

void Kdf1(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1) {
  SymmetricKey* const outs[] = {&t1};
  Kdf(key, input, outs, 1);
}

void Kdf2(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1, SymmetricKey& t2) {
  SymmetricKey* const outs[] = {&t1, &t2};
  Kdf(key, input, outs, 2);
}

void Kdf3(const SymmetricKey& key, ByteSpan input, SymmetricKey& t1, SymmetricKey& t2,
          SymmetricKey& t3) {
  SymmetricKey* const outs[] = {&t1, &t2, &t3};
  Kdf(key, input, outs, 3);
}

}  // namespace zl::crypto
